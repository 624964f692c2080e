DROP INDEX "identities_contact_idx";--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "metadata" jsonb;--> statement-breakpoint
CREATE INDEX "contacts_name_words_idx" ON "contacts" USING gin (to_tsvector('simple', coalesce("display_name", ''))) WHERE merged_into IS NULL;--> statement-breakpoint
CREATE INDEX "conversations_recent_idx" ON "conversations" USING btree ("last_message_at","id");--> statement-breakpoint
CREATE INDEX "conversations_account_recent_idx" ON "conversations" USING btree ("account","last_message_at","id");--> statement-breakpoint
CREATE INDEX "identities_seen_idx" ON "identities" USING btree ("last_seen","id");--> statement-breakpoint
CREATE INDEX "identities_account_seen_idx" ON "identities" USING btree ("account","last_seen","id");--> statement-breakpoint
CREATE INDEX "identities_external_id_idx" ON "identities" USING btree ("external_id");--> statement-breakpoint
CREATE INDEX "identities_name_words_idx" ON "identities" USING gin (to_tsvector('simple', coalesce("display_name", '')));--> statement-breakpoint
CREATE INDEX "identity_aliases_alias_idx" ON "identity_aliases" USING btree ("alias");--> statement-breakpoint
CREATE INDEX "session_windows_expires_idx" ON "session_windows" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "identities_contact_idx" ON "identities" USING btree ("contact_id","last_seen","id");