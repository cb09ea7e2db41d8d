/**
 * Password hashing: argon2id (RFC 9106), stored as a PHC string that carries its own
 * parameters, so they can be raised later without breaking existing hashes.
 */
import { hash, verify, Algorithm } from '@node-rs/argon2';

// RFC 9106 §4 second recommended option (64 MiB, 3 passes) would cost ~100 ms per login on a
// small VM; these OWASP-recommended parameters (19 MiB, 2 passes, 1 lane) cost ~20 ms.
const OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

/** False for a wrong password or an unreadable hash; never throws for bad input. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}
