CREATE TABLE "merge_blocks" (
	"contact_a" text NOT NULL,
	"contact_b" text NOT NULL,
	"log_id" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "merge_blocks_contact_a_contact_b_pk" PRIMARY KEY("contact_a","contact_b")
);
--> statement-breakpoint
CREATE TABLE "merge_log" (
	"id" text PRIMARY KEY NOT NULL,
	"seq" bigserial NOT NULL,
	"action" text NOT NULL,
	"contact_id" text NOT NULL,
	"other_id" text NOT NULL,
	"actor" text NOT NULL,
	"via" text NOT NULL,
	"evidence" jsonb NOT NULL,
	"identity_ids" jsonb NOT NULL,
	"before" jsonb NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "contacts" ADD COLUMN "revision" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "contacts" ADD COLUMN "conflicts" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "identities" ADD COLUMN "origin_contact_id" text;--> statement-breakpoint
CREATE INDEX "merge_blocks_b_idx" ON "merge_blocks" USING btree ("contact_b");--> statement-breakpoint
CREATE INDEX "merge_log_contact_idx" ON "merge_log" USING btree ("contact_id","at");--> statement-breakpoint
CREATE INDEX "merge_log_other_idx" ON "merge_log" USING btree ("other_id","at");--> statement-breakpoint
CREATE INDEX "contacts_phones_idx" ON "contacts" USING gin ("phones" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "contacts_emails_idx" ON "contacts" USING gin ("emails" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "contacts_name_idx" ON "contacts" USING btree (lower("display_name")) WHERE merged_into IS NULL;--> statement-breakpoint
CREATE INDEX "identities_evidence_idx" ON "identities" USING gin ("evidence" jsonb_path_ops);