CREATE TABLE "outbox_progress" (
	"id" integer PRIMARY KEY NOT NULL,
	"done" "pg_snapshot" NOT NULL,
	"target" "pg_snapshot",
	"cursor" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Nothing is covered yet: every transaction from here on is in the relay's first snapshot diff.
INSERT INTO "outbox_progress" ("id", "done") VALUES (1, '3:3:');--> statement-breakpoint
-- Rows written before this migration get a transaction id below every snapshot (2, frozen):
-- published ones stay published, and the unpublished ones are handed to the relay as deferred.
ALTER TABLE "outbox" ADD COLUMN "txid" "xid8" DEFAULT '2' NOT NULL;--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "txid" SET DEFAULT pg_current_xact_id();--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "deferred" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "outbox" SET "deferred" = true WHERE "published_at" IS NULL;--> statement-breakpoint
DROP INDEX "outbox_pending_idx";--> statement-breakpoint
DROP INDEX "outbox_ordering_idx";--> statement-breakpoint
CREATE INDEX "outbox_txid_idx" ON "outbox" USING btree ("txid");--> statement-breakpoint
CREATE INDEX "outbox_deferred_idx" ON "outbox" USING btree ("ordering_key","id") WHERE deferred AND published_at IS NULL;--> statement-breakpoint
CREATE INDEX "outbox_deferred_order_idx" ON "outbox" USING btree ("id") WHERE deferred AND published_at IS NULL;
--> statement-breakpoint
-- What the relay may still publish (deferred rows without published_at, and rows of the
-- transactions it has not finished); for operators and tests, outbox-progress.ts has the same rule.
CREATE VIEW "outbox_unpublished" AS SELECT o.* FROM "outbox" o
  WHERE o.published_at IS NULL AND (o.deferred OR (o.txid >= (SELECT pg_snapshot_xmin(done) FROM outbox_progress WHERE id = 1)
    AND NOT pg_visible_in_snapshot(o.txid, (SELECT done FROM outbox_progress WHERE id = 1))));
