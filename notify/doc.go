// Package notify composes and sends every mail that sealgate writes itself:
// sign-in codes, lock notices and receipts (caused by the web side), the
// clerk's sender copy (caused by the relay), and the warnings retention owes
// people before it deletes (an account about to go, a transfer that expired
// unread).
//
// Every mail comes from notify.from, is multipart/alternative with a plain-text
// and an HTML part (a receipt adds its signed text as an attachment), is in
// German unless English was asked for, and carries Date, a Message-ID at
// notify.from's domain and Auto-Submitted: auto-generated. Nothing in it is
// fetched from anywhere: no images, no tracking, no remote style sheets. With
// notify.dkim set, the finished message is DKIM-signed (package dkimsign)
// here, in one place, before it is handed to the Sender.
//
// Everything that comes from outside (addresses, file names, the
// organisation's name, references) is checked or encoded before it reaches a
// header: an address with a line break is refused, a display text is
// encoded, and the HTML part is rendered with html/template. Sign-in codes
// appear in the body only, never in a header, and are never logged.
//
// notify imports neither smtpproxy nor linkserver: cmd hands it
// smtpproxy's Outbound as the Sender, and hands the Notifier to the relay
// (sender copies), to the link server (codes, lock notices, receipts) and to
// the retention sweeper (warnings).
package notify
