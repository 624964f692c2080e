CREATE TABLE "cost_entries" (
	"message_id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"account" text NOT NULL,
	"conversation_id" text NOT NULL,
	"identity_id" text NOT NULL,
	"category" text NOT NULL,
	"billable" boolean NOT NULL,
	"pricing_model" text,
	"pricing_type" text,
	"units" integer NOT NULL,
	"source" text NOT NULL,
	"note" jsonb,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "message_templates" (
	"account" text NOT NULL,
	"name" text NOT NULL,
	"language" text NOT NULL,
	"channel" text NOT NULL,
	"external_id" text,
	"status" text NOT NULL,
	"category" text,
	"quality" text,
	"parameters" jsonb NOT NULL,
	"components" jsonb NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"seen_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "message_templates_account_name_language_pk" PRIMARY KEY("account","name","language")
);
--> statement-breakpoint
CREATE TABLE "template_syncs" (
	"account" text PRIMARY KEY NOT NULL,
	"synced_at" timestamp with time zone,
	"requested_at" timestamp with time zone,
	"last_error" text,
	"templates" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "cost_entries_account_time_idx" ON "cost_entries" USING btree ("account","at");--> statement-breakpoint
CREATE INDEX "cost_entries_time_idx" ON "cost_entries" USING btree ("at");