CREATE TABLE "erasure_tombstones" (
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"key" text NOT NULL,
	"erased_at" timestamp with time zone NOT NULL,
	CONSTRAINT "erasure_tombstones_channel_account_key_pk" PRIMARY KEY("channel","account","key")
);
--> statement-breakpoint
ALTER TABLE "shared_state" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "shared_state_expiry_idx" ON "shared_state" USING btree ("expires_at") WHERE expires_at IS NOT NULL;