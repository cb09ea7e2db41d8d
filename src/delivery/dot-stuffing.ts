/**
 * The message body as it goes out after DATA (RFC 5321 §4.5.2): a "." is added before
 * every line that starts with one, the body is made to end with CRLF, and "." CRLF ends it.
 * Pure: no I/O. The pieces are slices of the body, so a large message is not copied.
 */

const LF_DOT = Buffer.from('\n.');
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');

/**
 * The wire form of `body` as a list of buffers, each at most `maxPiece` octets (the
 * constant pieces are shared; never write into them). A line start is any octet after
 * LF: our bodies only have CRLF line ends, but should a bare LF slip through, a receiver
 * that takes it for a line end must not see an unstuffed "." there (SMTP smuggling).
 */
export function dotStuffedPieces(body: Buffer, maxPiece = 64 * 1024): Buffer[] {
  const pieces: Buffer[] = [];
  const pushSlice = (from: number, to: number) => {
    for (let p = from; p < to; p += maxPiece) pieces.push(body.subarray(p, Math.min(to, p + maxPiece)));
  };
  let start = 0;
  if (body.length > 0 && body[0] === 0x2e) pieces.push(DOT);
  for (;;) {
    const at = body.indexOf(LF_DOT, start);
    if (at < 0) break;
    // Everything up to and including the LF, then the extra dot; the body's own dot follows.
    pushSlice(start, at + 1);
    pieces.push(DOT);
    start = at + 1;
  }
  pushSlice(start, body.length);
  if (body.length === 0) {
    pieces.push(END);
  } else if (body.length >= 2 && body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a) {
    pieces.push(END);
  } else {
    // RFC 5321 §4.1.1.4: the end of data is <CRLF>.<CRLF>; a body without a final line end gets one.
    pieces.push(CRLF_END);
  }
  return pieces;
}

/** The whole wire form in one buffer (for small bodies and tests). */
export function dotStuff(body: Buffer): Buffer {
  return Buffer.concat(dotStuffedPieces(body, Number.MAX_SAFE_INTEGER));
}
