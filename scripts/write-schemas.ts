/**
 * Regenerates every committed JSON Schema: the event and API schemas in `schemas/` and the
 * config file schemas in `config/schema/`, and the OpenAPI document `docs/openapi.json`. Run `npm run schemas` after changing a schema.
 */
import { channels } from '../src/channels/index.ts';
import { writeConfigSchemas } from '../src/core/config/json-schema.ts';
import { writeEventSchemas } from '../src/core/schemas/write.ts';
import { writeOpenApi } from '../src/core/http/openapi-file.ts';

const written = [
  ...(await writeEventSchemas('schemas')),
  ...(await writeConfigSchemas('config/schema', channels)),
  await writeOpenApi('docs/openapi.json', channels.values()),
];
for (const file of written) console.log(file);
