CREATE TABLE "contacts" (
	"id" text PRIMARY KEY NOT NULL,
	"display_name" text,
	"phones" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"emails" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"merged_into" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conversations" (
	"id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"external_id" text NOT NULL,
	"kind" text NOT NULL,
	"title" text,
	"identity_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"last_message_at" timestamp with time zone NOT NULL,
	"last_inbound_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "identities" (
	"id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"external_id" text NOT NULL,
	"contact_id" text NOT NULL,
	"display_name" text,
	"username" text,
	"phone" text,
	"phone_verified" boolean DEFAULT false NOT NULL,
	"evidence" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"first_seen" timestamp with time zone NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	"unreachable_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "identity_aliases" (
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"alias" text NOT NULL,
	"identity_id" text NOT NULL,
	CONSTRAINT "identity_aliases_channel_account_alias_pk" PRIMARY KEY("channel","account","alias")
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "media" (
	"id" text PRIMARY KEY NOT NULL,
	"message_id" text NOT NULL,
	"part_index" integer NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"source_ref" jsonb,
	"status" text NOT NULL,
	"reason" text,
	"sha256" text,
	"size" integer,
	"mime" text,
	"ext" text,
	"filename" text,
	"storage_key" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"claimed_until" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" text PRIMARY KEY NOT NULL,
	"direction" text NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"conversation_id" text NOT NULL,
	"identity_id" text NOT NULL,
	"external_id" text,
	"dedupe_key" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"parts" jsonb NOT NULL,
	"reply_to" text,
	"referral" jsonb,
	"raw" jsonb,
	"status" text,
	"status_at" timestamp with time zone,
	"error" jsonb,
	"idempotency_key" text
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"msg_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"ordering_key" text NOT NULL,
	"held" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"published_at" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "session_windows" (
	"id" text PRIMARY KEY NOT NULL,
	"conversation_id" text NOT NULL,
	"grant" text NOT NULL,
	"opened_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	"quota_limit" integer,
	"quota_used" integer DEFAULT 0 NOT NULL,
	"pricing_kind" text,
	"pricing_expires_at" timestamp with time zone,
	"referral" jsonb,
	"opened_notified_at" timestamp with time zone,
	"expiring_notified_at" timestamp with time zone,
	"expired_notified_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "shared_state" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"revision" integer NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "status_receipts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"dedupe_key" text NOT NULL,
	"external_id" text NOT NULL,
	"status" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"error" jsonb,
	"message_id" text,
	"raw" jsonb
);
--> statement-breakpoint
CREATE TABLE "webhook_nonces" (
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "webhook_nonces_channel_account_key_pk" PRIMARY KEY("channel","account","key")
);
--> statement-breakpoint
CREATE INDEX "contacts_merged_into_idx" ON "contacts" USING btree ("merged_into");--> statement-breakpoint
CREATE UNIQUE INDEX "conversations_key_idx" ON "conversations" USING btree ("channel","account","external_id");--> statement-breakpoint
CREATE INDEX "conversations_identity_idx" ON "conversations" USING btree ("identity_id");--> statement-breakpoint
CREATE UNIQUE INDEX "identities_key_idx" ON "identities" USING btree ("channel","account","external_id");--> statement-breakpoint
CREATE INDEX "identities_contact_idx" ON "identities" USING btree ("contact_id");--> statement-breakpoint
CREATE INDEX "identities_phone_idx" ON "identities" USING btree ("phone");--> statement-breakpoint
CREATE INDEX "identity_aliases_identity_idx" ON "identity_aliases" USING btree ("identity_id");--> statement-breakpoint
CREATE INDEX "media_pending_idx" ON "media" USING btree ("next_attempt_at") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "media_message_idx" ON "media" USING btree ("message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_dedupe_idx" ON "messages" USING btree ("channel","account","dedupe_key");--> statement-breakpoint
CREATE INDEX "messages_external_idx" ON "messages" USING btree ("channel","account","external_id");--> statement-breakpoint
CREATE INDEX "messages_identity_time_idx" ON "messages" USING btree ("identity_id","received_at","id");--> statement-breakpoint
CREATE INDEX "messages_conversation_time_idx" ON "messages" USING btree ("conversation_id","received_at");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_msg_id_idx" ON "outbox" USING btree ("msg_id");--> statement-breakpoint
CREATE INDEX "outbox_pending_idx" ON "outbox" USING btree ("id") WHERE published_at IS NULL;--> statement-breakpoint
CREATE INDEX "outbox_ordering_idx" ON "outbox" USING btree ("ordering_key","id") WHERE published_at IS NULL;--> statement-breakpoint
CREATE INDEX "session_windows_conversation_idx" ON "session_windows" USING btree ("conversation_id","opened_at");--> statement-breakpoint
CREATE INDEX "session_windows_expiry_idx" ON "session_windows" USING btree ("expires_at") WHERE expired_notified_at IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "status_receipts_dedupe_idx" ON "status_receipts" USING btree ("channel","account","dedupe_key");--> statement-breakpoint
CREATE INDEX "status_receipts_external_idx" ON "status_receipts" USING btree ("channel","account","external_id");--> statement-breakpoint
CREATE INDEX "webhook_nonces_expiry_idx" ON "webhook_nonces" USING btree ("expires_at");