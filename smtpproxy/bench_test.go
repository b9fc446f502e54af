package smtpproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

// benchMessage is a small untagged mail of about 4 KiB.
var benchMessage = []byte(simpleMessage("Besprechung am Montag") +
	strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n", 50))

// benchClients sends untagged small mails to addr from several connections
// at once, as Postfix does, and reports messages per second.
func benchClients(b *testing.B, addr string) {
	b.SetBytes(int64(len(benchMessage)))
	b.SetParallelism(4)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := c.SendMail("clerk@example.org", []string{"citizen@example.net"}, bytes.NewReader(benchMessage)); err != nil {
				b.Error(err)
				return
			}
		}
		c.Quit()
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// CPU time per message (client, relay and next hop together) is what
	// msgs/s comes down to on an idle machine, and it barely moves when
	// other work shares the cores.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPassThrough: untagged mail through sealgate to the fake next hop.
func BenchmarkPassThrough(b *testing.B) {
	h := start(b, func(_ *Config, o *smtptest.Options) { o.DiscardData = true })
	benchClients(b, h.addr)
}

// BenchmarkBareRelay is the baseline for BenchmarkPassThrough: the least a
// go-smtp relay can do (one next-hop connection per client session,
// envelope mirrored, DATA copied), same client, same next hop. make bench
// prints PassThrough's msgs/s divided by this one's.
func BenchmarkBareRelay(b *testing.B) {
	hop := smtptest.Start(b, smtptest.Options{DiscardData: true})
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		c, err := smtp.Dial(hop.Addr)
		if err != nil {
			return nil, err
		}
		return &bareSession{c: c}, nil
	}))
	srv.Domain = "bare.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	benchClients(b, ln.Addr().String())
}

type bareSession struct{ c *smtp.Client }

func (s *bareSession) Mail(from string, _ *smtp.MailOptions) error { return s.c.Mail(from, nil) }
func (s *bareSession) Rcpt(to string, _ *smtp.RcptOptions) error   { return s.c.Rcpt(to, nil) }
func (s *bareSession) Reset()                                      {}
func (s *bareSession) Logout() error                               { s.c.Quit(); return s.c.Close() }
func (s *bareSession) Data(r io.Reader) error {
	w, err := s.c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Close()
}

// BenchmarkLevel1Relay1GiB relays one [secure1] message of 1 GiB (a 784 MiB
// attachment, base64) per iteration, client, relay, vault and next hop in
// this process, and reports the process's peak resident set
// (VmHWM, reset at the start) as peak-RSS-MiB. Run it with -benchtime 1x.
func BenchmarkLevel1Relay1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("1 GiB message; not with -short")
	}
	h := start(b, func(_ *Config, o *smtptest.Options) { o.DiscardData = true })
	resetPeakRSS()
	b.SetBytes(1 << 30)
	b.ResetTimer()
	for range b.N {
		// A message just under 1 GiB (smtp.max_message_size): base64 turns
		// 57 bytes into a line of 78.
		msg := &taggedMessage{subject: "[secure1] Archiv", files: []*genFile{
			{name: "archiv.bin", ctype: "application/octet-stream", size: (1<<30 - 16<<10) / 78 * 57, seed: 42},
		}}
		if err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if peak, ok := peakRSS(); ok {
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MiB")
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM in bytes (Linux).
func peakRSS() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
