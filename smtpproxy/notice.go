package smtpproxy

import (
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"sealgate/catalog"
	"sealgate/smtpproxy/rewrite"
)

// notice renders the text that replaces the attachments, from the catalog,
// with the draft's link, access code and expiry, and the recipient's own
// upload link when the copy carries one.
type notice struct {
	cat       *catalog.Catalog
	sink      *draftSink
	level     int
	lang      string
	publicURL string
	org       string
	uploadURL string
}

// withUpload returns a copy of n for one recipient's copy, carrying their
// upload link.
func (n *notice) withUpload(url string) *notice {
	c := *n
	c.uploadURL = url
	return &c
}

func (s *Server) newNotice(sink *draftSink, level int, h textproto.Header) *notice {
	return &notice{cat: s.cat, sink: sink, level: level, lang: noticeLang(h), publicURL: s.cfg.PublicURL, org: s.cfg.OrgName}
}

func (n *notice) Text(files []rewrite.Stored) string {
	d, ok := n.data(files)
	if !ok {
		return ""
	}
	return n.cat.NoticeText(n.lang, d)
}

func (n *notice) HTML(files []rewrite.Stored) string {
	d, ok := n.data(files)
	if !ok {
		return ""
	}
	return n.cat.NoticeHTML(n.lang, d)
}

// data is what the catalog renders: the transfer's link and code when
// something was stored, the upload link when the copy carries one; nothing
// (no notice) when neither.
func (n *notice) data(files []rewrite.Stored) (catalog.NoticeData, bool) {
	draft := n.sink.draft
	stored := len(files) > 0 || n.sink.text
	if draft == nil || (!stored && n.uploadURL == "") {
		return catalog.NoticeData{}, false
	}
	d := catalog.NoticeData{
		Level: n.level,
		// The server's zone is the organisation's, and most readers'.
		ExpiresAt: draft.ExpiresAt().In(time.Local),
		SenderOrg: n.org,
		UploadURL: n.uploadURL,
	}
	if stored {
		d.TransferURL = n.publicURL + "/t/" + draft.Token()
		d.HomeURL = n.publicURL + "/"
		d.AccessCode = draft.AccessCode()
	}
	for _, f := range files {
		d.Files = append(d.Files, catalog.NoticeFile{Name: f.Name, Size: f.Size})
	}
	return d, true
}

// noticeLang picks the notice's first language from the message's
// Content-Language (Outlook sets it from the clerk's settings); the catalog
// adds the others and falls back to its default.
func noticeLang(h textproto.Header) string {
	v := strings.TrimSpace(h.Get("Content-Language"))
	if i := strings.IndexAny(v, ",;"); i >= 0 {
		v = v[:i]
	}
	v, _, _ = strings.Cut(strings.TrimSpace(v), "-")
	return strings.ToLower(v)
}
