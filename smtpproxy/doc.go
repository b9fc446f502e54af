// Package smtpproxy is sealgate's relay: a go-smtp server that sits between
// the organisation's Postfix and the next hop, mirrors each envelope to the
// next hop as it arrives, passes untagged mail through unchanged, and for
// tagged mail stores the attachments in the vault and sends the message on
// with links in their place. It never queues: the client hears 250 only
// after every next-hop transaction accepted the message.
//
// # A message, step by step
//
// Only clients in smtp.allowed_clients get a greeting; others get 554 5.7.1
// from the listener and are disconnected before go-smtp reads a command.
// MAIL opens a transaction on a pooled next-hop connection; each RCPT is
// mirrored there at once, and the next hop's answer is ours. Recipients in
// smtp.internal_domains go to a second transaction, opened at the first of
// them. DATA is checked as it streams in (input: a bare CR or LF refuses
// the message; it never goes on, and the next-hop transactions are dropped
// without their final dot), its header is read and the policy decides:
//
//   - level 0: the bytes stream to the next hop(s) as they came, with our
//     Received: line on top;
//   - level ≥ 1: the rewrite takes the attachments out into a vault draft
//     (begun at the first attachment, so a tagged message without any
//     stores nothing) and the rewritten message goes to the external
//     transaction, while the internal one receives the original bytes,
//     tee'd from the same stream;
//   - level 4: as level ≥ 1, and the first text/plain and text/html bodies
//     go to the draft as its message text (Draft.AddText; the draft is
//     begun even without attachments). Every other part, cid images
//     included, is a file; the mail carries only the notice, under the
//     message's own header fields, with a neutral Subject when
//     Config.NeutralSubject is set (Outlook's Thread-Topic, which repeats
//     the subject, is then dropped). The stored HTML keeps its cid:
//     references, which the images, now files, no longer answer;
//   - [upload] at level 0: nothing is stored but a transfer without files
//     that holds the upload links; the message keeps every part and gains
//     the upload notice (see uploadOnly for messages too large to hold);
//   - a level that depends on the size of the attachments: the message
//     goes into an encrypted spool while a first rewrite pass measures the
//     attachments, storing nothing; then the settled decision replays the
//     spool through one of the paths above. The second parse costs CPU, but
//     the transfer is created once, at its final level.
//
// With an upload request ([upload] or X-Sealgate-Upload: yes), every
// external recipient's copy carries a personal upload link, /u/{token}, so
// the copies differ: each external recipient then gets a next-hop
// transaction of their own (the one opened at MAIL goes back to the pool),
// with the same transfer link and access code and their own upload link.
// The copies are all written before any is ended (up to maxHeldCopies at a
// time), so that a refusal or a failure on the way leaves none out.
//
// Internal copies are ended first and the external ones last: when the
// external next hop accepts, every copy was accepted, and only then do the
// links exist in the world; the draft is committed right after. (A failure
// at the very end of a later external copy can find earlier copies
// accepted; their links then lead nowhere, and the client's retry sends
// them again. SMTP has no way to take back an accepted message.) If Commit
// fails, the client still hears 250 (the mail is out, and the vault serves
// an uncommitted draft like a committed one); the failure is logged. Any
// failure before that aborts the draft and answers 451, or passes a reply
// of the next hop back as it came (4xx and 5xx alike, so that Postfix sees,
// for instance, 452 at RCPT; only 421 becomes 451, because it would tell
// Postfix that we are closing).
//
// # DKIM
//
// With smtp.dkim set, every rewritten message is signed after the rewrite
// (package dkimsign): the rewrite writes into memory (it holds the kept
// parts there anyway, bounded by rewrite.Limits, and writes nothing before
// the end of its input), the signature goes on top, and the signed bytes
// follow our trace header to the next hop. DKIM signatures the message came
// with are removed at every level ≥ 1, signer or not: the tag left Subject
// and the attachments left the body, so they are broken, and a broken
// signature is worse than none. A message that cannot be signed is held
// with 451 and counted (FailureDKIM). Level-0 mail is not touched, unless
// it asks for documents ([upload]): then it is rewritten and signed like
// the rest while it fits in memory, and beyond that goes out unsigned
// (counted as FailureDKIMUnsigned), because dkimsign signs whole messages
// in memory.
//
// # After the reply
//
// Config.Observer hears how each message ended (MessageDone), for metrics.
// Config.SenderCopy receives every relayed message that stored a transfer,
// once the 250 is decided, for the clerk's sender copy: it runs in a
// goroutine of its own (at most maxSenderCopies at once, each bounded by
// senderCopyTimeout), and a failure is logged and counted
// (FailureSenderCopy), never turned into a failure of the relayed mail.
// Serve returns only after the copies in flight have ended.
//
// # Sealgate's own mail
//
// Outbound sends the mail sealgate writes itself (package notify composes
// it) with the same next-hop code as relayed mail: a pool of its own, the
// same TLS settings and timeouts, to smtp.deliver_hop when set. Its errors
// tell a temporary refusal from a permanent one (IsTemporary).
//
// # Errors
//
// go-smtp sends any error that is not exactly an *smtp.SMTPError as 554 with
// its text. Every error that leaves a session therefore goes through reply:
// refusals keep their code and a sentence for the clerk, everything else is
// 451 4.3.0 with the cause in the log only.
//
// # The data path
//
// go-smtp reads and writes DATA one byte at a time. The read side sits
// behind input (which checks line endings in bulk); the write side behind
// bodyWriter, whose bulkBody dot-stuffs whole lines straight onto the
// connection and lets go-smtp only end the message and read the reply. On
// connections where go-smtp holds the TLS layer (STARTTLS to the next hop),
// go-smtp's own writer is used.
//
// # Logging
//
// Every line about a message carries its random msg_id, which is also in
// the trace header and in the 250 reply. Content, subjects, tokens and
// access codes are never logged; addresses only at debug level.
package smtpproxy
