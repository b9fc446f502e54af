// Package linkserver is sealgate's web side: the pages a recipient opens from
// a secure link (transfer page, downloads, home page with the access-code
// form), the JSON API under /api/v1/, and what keeps them safe (security
// headers, CSRF tokens, rate limits that refuse instead of wait).
//
// Pages are server-rendered with html/template from embedded files and need no
// JavaScript at levels 1 and 2. A GET never changes anything stored: codes are
// looked up only on POST, and downloads are not counted yet.
package linkserver
