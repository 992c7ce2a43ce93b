/**
 * Secrets known to this process. Secrets are kept out of messages by construction; this is the
 * second line of defence: every line the CLI writes passes through `redact`, so a secret that
 * slipped into an error from a library (an engine message echoing a request, say) is masked.
 */
const secrets = new Set<string>();

/** Register a secret (a password, a token) so that it is masked wherever it would be printed. */
export function registerSecret(secret: string | undefined): void {
  // Very short values would mask ordinary words; such a password is also far too weak to matter.
  if (secret !== undefined && secret.length >= 4) {
    secrets.add(secret);
    // Also the forms in which a library might echo it.
    secrets.add(Buffer.from(secret).toString("base64"));
    secrets.add(encodeURIComponent(secret));
  }
}

/** Replace every registered secret in `text` with `***`. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join("***");
  return out;
}

/** For tests: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
}
