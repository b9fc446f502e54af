// Package linkserver is sealgate's web side: the pages a recipient opens from
// a secure link (transfer page, downloads, home page with the access-code
// form), sign-in with nothing but an e-mail address (one-time codes, mailed
// through a Notifier), the clerk's status page with its revoke button, the
// JSON API under /api/v1/, and what keeps them safe (security headers, CSRF
// tokens, rate limits that refuse instead of wait).
//
// Pages are server-rendered with html/template from embedded files and need no
// JavaScript at levels 1 and 2. A GET never changes anything that matters:
// codes are mailed and checked only on POST, and a download is counted (and,
// at level 2 and above, receipted) only once its last byte went out. The
// addresses are documented in API.md.
//
// At levels 3 and 4 the server hands each recipient the OpenPGP message made
// for their own key and never decrypts it; the transfer page's scripts
// (assets/js: page.js on e2e.js on OpenPGP.js, loaded with Subresource
// Integrity) make, lock, unlock and use the key in the browser. Recipients
// with a key of their own upload it at /key and download .pgp files.
//
// Every word a visitor reads comes from the catalog (package catalog) in the
// page's language, chosen by a switch on every page, a cookie, or
// Accept-Language; tests fail on text in a template or handler. Pages carry
// the organisation's name, logo, colour and legal links (Config). An Observer
// (WithObserver) counts downloads, sign-ins and mailed codes for metrics.
package linkserver
