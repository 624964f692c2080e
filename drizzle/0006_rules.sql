ALTER TABLE "conversations" ADD COLUMN "session_kind" text;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "via" text;