package postfixtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"text/template"
)

// mainCF is a private instance: its own queue, data directory, log file and
// loopback ports, delivering everything to the relay host. Retry times are
// short so that deferred mail comes back within seconds.
var mainCF = template.Must(template.New("main.cf").Parse(`# Written by sealgate's internal/postfixtest for one test; not for production.
compatibility_level = 3.6
queue_directory = {{.Dir}}/queue
data_directory = {{.Dir}}/data
mail_owner = postfix
setgid_group = postdrop
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.sealgate.test
mydomain = sealgate.test
myorigin = $mydomain
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = {{.RelayHost}}
smtp_dns_support_level = disabled
smtputf8_enable = no
biff = no
maillog_file = {{.Dir}}/maillog
maillog_file_prefixes = {{.Dir}}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
# From configs/postfix/main.cf.snippet:
{{.MainSnippet}}
{{- if .ContentFilter}}
# After-queue content filter: every message leaves the queue through the
# "sealgate" transport below and comes back through the reinjection smtpd.
content_filter = sealgate:{{.ContentFilter}}
{{- end}}
`))

// masterCF has the submission smtpd, the sealgate transport and the
// reinjection smtpd exactly as configs/postfix/master.cf.snippet ships them
// (only the reinjection address changed), and the standard services, all
// without chroot so that nothing outside Dir is needed.
var masterCF = template.Must(template.New("master.cf").Parse(`# Written by sealgate's internal/postfixtest for one test; not for production.
# service    type  private unpriv chroot wakeup maxproc command
{{.Submit}} inet  n       -       n       -       -       smtpd
# From configs/postfix/master.cf.snippet:
{{.MasterSnippet}}
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
`))

type templateData struct {
	Dir, RelayHost, ContentFilter, Submit, Reinject string
	// MainSnippet and MasterSnippet are the active lines of the shipped
	// snippets.
	MainSnippet, MasterSnippet string
}

// bracketed turns host:port into Postfix's [host]:port, which means "this
// host, no MX lookup".
func bracketed(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %w", hostport, err)
	}
	return "[" + host + "]:" + port, nil
}

func writeConfig(confDir string, d templateData) error {
	for name, tmpl := range map[string]*template.Template{"main.cf": mainCF, "master.cf": masterCF} {
		f, err := os.OpenFile(filepath.Join(confDir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		err = tmpl.Execute(f, d)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
