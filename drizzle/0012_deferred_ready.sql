DROP INDEX "outbox_deferred_order_idx";--> statement-breakpoint
CREATE INDEX "outbox_deferred_order_idx" ON "outbox" USING btree ("id") WHERE deferred AND published_at IS NULL AND NOT held;