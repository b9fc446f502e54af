package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// fakeClamd speaks enough of clamd's protocol: INSTREAM with a size limit,
// and PING. It "detects" the EICAR test string anywhere in the stream.
func fakeClamd(t *testing.T, network, addr string, maxLen int) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFake(conn, maxLen)
		}
	}()
	return ln.Addr().String()
}

func serveFake(conn net.Conn, maxLen int) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	cmd, err := br.ReadString(0)
	if err != nil {
		return
	}
	switch cmd {
	case "zPING\x00":
		conn.Write([]byte("PONG\x00"))
		return
	case "zINSTREAM\x00":
	default:
		conn.Write([]byte("UNKNOWN COMMAND\x00"))
		return
	}
	var data bytes.Buffer
	for {
		var size [4]byte
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			break
		}
		if data.Len()+int(n) > maxLen {
			conn.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
			return
		}
		if _, err := io.CopyN(&data, br, int64(n)); err != nil {
			return
		}
	}
	if bytes.Contains(data.Bytes(), []byte(eicar)) {
		conn.Write([]byte("stream: Win.Test.EICAR_HDB-1 FOUND\x00"))
		return
	}
	conn.Write([]byte("stream: OK\x00"))
}

func TestScan(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "clamd.sock")
	addrs := map[string]string{
		"tcp":  fakeClamd(t, "tcp", "127.0.0.1:0", 1<<20),
		"unix": "unix:" + fakeClamd(t, "unix", sock, 1<<20),
		"path": sock,
	}
	clean := strings.Repeat("harmless bytes ", 20000) // several chunks
	for name, addr := range addrs {
		t.Run(name, func(t *testing.T) {
			c, err := New(addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			res, err := c.Scan(ctx, strings.NewReader(clean))
			if err != nil || res.Infected {
				t.Fatalf("clean stream: %+v, %v", res, err)
			}
			res, err = c.Scan(ctx, strings.NewReader(clean[:70000]+eicar+clean[:100]))
			if err != nil || !res.Infected || res.Signature != "Win.Test.EICAR_HDB-1" {
				t.Fatalf("infected stream: %+v, %v", res, err)
			}
			if res, err := c.Scan(ctx, strings.NewReader("")); err != nil || res.Infected {
				t.Fatalf("empty stream: %+v, %v", res, err)
			}
		})
	}
}

func TestScanTooLarge(t *testing.T) {
	t.Parallel()
	c, _ := New(fakeClamd(t, "tcp", "127.0.0.1:0", 100<<10), 5*time.Second)
	_, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, 8<<20)))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	if _, err := New("not an address", 0); err == nil {
		t.Error("New accepted a bad address")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ := New(addr, time.Second)
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("closed port: %v", err)
	}
	// A clamd that never answers is bounded by the context.
	hang, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { hang.Close() })
	go func() {
		for {
			conn, err := hang.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, conn) }()
		}
	}()
	c, _ = New(hang.Addr().String(), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Scan(ctx, strings.NewReader("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging clamd: %v", err)
	}
	for _, reply := range []string{"stream: something odd", "garbage"} {
		if _, err := parse(reply); err == nil {
			t.Errorf("parse(%q) accepted", reply)
		}
	}
}
