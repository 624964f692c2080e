CREATE TABLE "inbound_dead_letters" (
	"id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"dedupe_key" text NOT NULL,
	"reason" text NOT NULL,
	"raw" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "poll_cursors" (
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"cursor" text,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "poll_cursors_channel_account_pk" PRIMARY KEY("channel","account")
);
--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "reply_token" text;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "reply_token_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "reply_token_max_messages" integer;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "reply_token_message_id" text;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "reply_token_used_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "edited_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "edits" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "inbound_dead_letters_key_idx" ON "inbound_dead_letters" USING btree ("channel","account","dedupe_key");--> statement-breakpoint
CREATE INDEX "inbound_dead_letters_time_idx" ON "inbound_dead_letters" USING btree ("created_at");