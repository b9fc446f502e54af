// Package uploadproto is the HTTP protocol by which a recipient's browser
// uploads files into the vault: the core of tus 1.0 (https://tus.io
// protocol, version 1.0.0) with its creation and termination extensions,
// as one http.Handler that linkserver mounts under /u/{token}/files/ (an
// upload link) or under a transfer page's reply form.
//
//	OPTIONS …/files/        what the server supports (Tus-Version, Tus-Extension, Tus-Max-Size)
//	POST    …/files/        creation: Upload-Length, Upload-Metadata (filename, filetype) -> 201, Location …/files/{id}
//	HEAD    …/files/{id}    Upload-Offset and Upload-Length: where to resume
//	PATCH   …/files/{id}    append from Upload-Offset (Content-Type application/offset+octet-stream) -> 204, Upload-Offset
//	DELETE  …/files/{id}    termination: the file is removed from the upload
//	GET     …/files/        (not tus) the current upload as JSON, for the page
//
// Why hand-written rather than tusd's handler package: tusd/v2 is one Go
// module whose go.mod pulls the AWS, Google Cloud and Azure SDKs, gRPC and
// plugin frameworks into our module graph (not linked, but resolved and
// pinned in go.sum), and its handler brings behaviour we would have to turn
// off or work around (its own locking, upload IDs chosen by the store,
// hooks, CORS, concatenation, errors as plain text). What sealgate needs is
// the small core above plus things tusd does not know: the limits of an
// upload as a whole (uploads.max_files, uploads.max_size over all files)
// refused before any byte is stored, answers that name the limit, a virus
// scan of the completed file before it counts, and stopping a request that
// a reconnected client has superseded. The core protocol is a few hundred
// lines, and tus-js-client and Uppy speak it unchanged.
//
// Every byte goes straight into vault.WriteUploadFile, which encrypts as it
// reads (in 256 KiB steps): a PATCH body is never buffered beyond that, and
// nothing unencrypted touches the disk. A broken request keeps what arrived;
// HEAD then reports the stored offset (after stopping a request for the same
// file that the server still thinks is running) and the client resumes. A
// request body that stalls for Config.IdleTimeout is cut off the same way;
// the read and write deadlines follow the client's progress, so neither the
// server's ReadTimeout nor its WriteTimeout cuts off a long upload.
//
// When the last byte of a file arrives, the file is checked before it
// counts: decrypted once from the vault, streaming, hashed (SHA-256), and,
// with uploads.clamd set, streamed to clamd (INSTREAM). An infected file is
// refused with 422 and a message naming it, and deleted with everything
// stored of it. A scanner that cannot be reached answers 503: the file stays
// complete but unaccepted, and the next HEAD checks it again.
//
// Errors are JSON, {"error": code, "message": English text, …fields}, with
// fields the page can use to say it in the reader's language:
//
//	413 {"error":"limit","limit":"uploads.max_size","max":N}   also "uploads.max_files"
//	413 {"error":"too_long"}                                   more bytes than Upload-Length
//	422 {"error":"infected","file":"name","signature":"…"}
//	409 {"error":"offset"}                                     Upload-Offset is not the stored offset
//	410 {"error":"gone","reason":"sent|closed|expired|revoked"}
//	403 {"error":"forbidden"}                                  the authorisation callback said no
//	404 {"error":"not_found"}
//	503 {"error":"scan_unavailable"}
//
// Who may upload is linkserver's decision: the handler calls its Authorize
// callback on every request but OPTIONS. Rate limits per link and per
// client belong there too, in front of the handler.
package uploadproto
