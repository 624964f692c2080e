CREATE TABLE "send_jobs" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"message_id" text NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"conversation_id" text NOT NULL,
	"state" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"throttles" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"sending_until" timestamp with time zone,
	"holder" text,
	"last_error" jsonb,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "send_requests" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"message_id" text,
	"error" jsonb,
	"source" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "send_jobs_message_idx" ON "send_jobs" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "send_jobs_account_idx" ON "send_jobs" USING btree ("account","seq");--> statement-breakpoint
CREATE INDEX "send_jobs_conversation_idx" ON "send_jobs" USING btree ("conversation_id","seq");--> statement-breakpoint
CREATE INDEX "status_receipts_unmatched_idx" ON "status_receipts" USING btree ("at") WHERE message_id IS NULL;