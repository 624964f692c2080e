/**
 * `${ENV_NAME}` substitution in configuration strings. Secrets never live in the files, so the
 * loader replaces references from the environment before validation. Shell-style forms:
 * `${NAME}`, `${NAME:-default}` (unset or empty), `${NAME-default}` (unset only); `$${` is a
 * literal `${`. This module is pure: the caller hands it the environment.
 */

/** What substituting one string produced. */
export interface Substitution {
  value: string;
  /** True when at least one reference was replaced (the value must then never be echoed). */
  substituted: boolean;
  /** Variables that were referenced, not set, and had no default. */
  missing: string[];
  /** Malformed references (unterminated, bad name), described without any environment value. */
  errors: string[];
}

/** A JSON Schema pattern matching a string that contains a reference, for editor schemas. */
export const ENV_REFERENCE_PATTERN = '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:?-[^}]*)?\\}';

const REFERENCE_RE = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([\s\S]*))?$/;

/** True when the string needs substitution (contains `${` or the `$${` escape). */
export function hasReference(text: string): boolean {
  return text.includes('${');
}

/** Replaces every reference in `text` from `env`; never throws, reports problems instead. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): Substitution {
  let value = '';
  let substituted = false;
  const missing: string[] = [];
  const errors: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      value += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      value += text[i];
      i += 1;
      continue;
    }
    const end = text.indexOf('}', i + 2);
    if (end < 0) {
      errors.push('unterminated "${" (write "$${" for a literal "${")');
      value += text.slice(i);
      break;
    }
    const expression = text.slice(i + 2, end);
    i = end + 1;
    const match = REFERENCE_RE.exec(expression);
    if (!match) {
      errors.push(`invalid reference "\${${expression}}": expected \${NAME} or \${NAME:-default}`);
      continue;
    }
    const [, name = '', operator, fallback = ''] = match;
    // Own properties only: `${constructor}` must not find Object.prototype's.
    let resolved = Object.hasOwn(env, name) ? env[name] : undefined;
    if (operator === ':-' && (resolved === undefined || resolved === '')) resolved = fallback;
    if (operator === '-' && resolved === undefined) resolved = fallback;
    if (resolved === undefined) {
      missing.push(name);
      continue;
    }
    value += resolved;
    substituted = true;
  }
  return { value, substituted, missing, errors };
}
