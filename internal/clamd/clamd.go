// Package clamd scans streams with ClamAV's clamd daemon over its INSTREAM
// command, so that uploads can be checked before they are accepted without
// ever writing them to disk unencrypted.
package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// chunkSize is how much is sent per INSTREAM chunk; clamd's default
// StreamMaxLength is 25 MiB in total, chunks are independent of it.
const chunkSize = 64 << 10

// ErrTooLarge means clamd refused the stream as longer than its
// StreamMaxLength. The caller decides whether that refuses the file.
var ErrTooLarge = errors.New("clamd: stream exceeds clamd's StreamMaxLength")

// Client talks to one clamd. The zero value is not usable; use New.
type Client struct {
	network, addr string
	timeout       time.Duration
}

// New returns a client for addr: a unix socket path ("/run/clamav/clamd.ctl"
// or "unix:/run/...") or host:port. timeout bounds each network operation;
// 0 means 2 minutes.
func New(addr string, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	c := &Client{timeout: timeout}
	switch {
	case strings.HasPrefix(addr, "unix:"):
		c.network, c.addr = "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "/"):
		c.network, c.addr = "unix", addr
	default:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("clamd address %q: want a socket path or host:port", addr)
		}
		c.network, c.addr = "tcp", addr
	}
	return c, nil
}

// Result is clamd's verdict on one stream.
type Result struct {
	Infected  bool
	Signature string // the virus name clamd reported, when infected
}

// Scan streams r to clamd and returns its verdict. It reads r to the end
// unless an error occurs.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return Result{}, fmt.Errorf("clamd: connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	bw := bufio.NewWriterSize(conn, chunkSize+4)
	if _, err := bw.WriteString("zINSTREAM\x00"); err != nil {
		return Result{}, c.wrap(ctx, "send command", err)
	}
	buf := make([]byte, chunkSize)
	var size [4]byte
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			conn.SetWriteDeadline(time.Now().Add(c.timeout))
			binary.BigEndian.PutUint32(size[:], uint32(n))
			if _, err := bw.Write(size[:]); err != nil {
				return c.earlyAnswer(ctx, conn, err)
			}
			if _, err := bw.Write(buf[:n]); err != nil {
				return c.earlyAnswer(ctx, conn, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return Result{}, fmt.Errorf("clamd: read input: %w", rerr)
		}
	}
	conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := bw.Write([]byte{0, 0, 0, 0}); err != nil {
		return c.earlyAnswer(ctx, conn, err)
	}
	if err := bw.Flush(); err != nil {
		return c.earlyAnswer(ctx, conn, err)
	}
	return c.answer(ctx, conn)
}

// earlyAnswer handles a write error: clamd closes the connection after
// answering when the stream grows past its limit, so read that answer.
func (c *Client) earlyAnswer(ctx context.Context, conn net.Conn, werr error) (Result, error) {
	if res, err := c.answer(ctx, conn); err == nil || errors.Is(err, ErrTooLarge) {
		return res, err
	}
	return Result{}, c.wrap(ctx, "send data", werr)
}

func (c *Client) answer(ctx context.Context, conn net.Conn) (Result, error) {
	conn.SetReadDeadline(time.Now().Add(c.timeout))
	reply, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadBytes(0)
	if err != nil && len(reply) == 0 {
		return Result{}, c.wrap(ctx, "read answer", err)
	}
	return parse(string(bytes.TrimRight(reply, "\x00\n")))
}

func (c *Client) wrap(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("clamd: %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("clamd: %s: %w", what, err)
}

// parse reads clamd's reply: "stream: OK", "stream: NAME FOUND" or
// "... ERROR".
func parse(reply string) (Result, error) {
	body := strings.TrimSpace(strings.TrimPrefix(reply, "stream:"))
	switch {
	case body == "OK":
		return Result{}, nil
	case strings.HasSuffix(body, " FOUND"):
		return Result{Infected: true, Signature: strings.TrimSuffix(body, " FOUND")}, nil
	case strings.Contains(body, "size limit exceeded"):
		return Result{}, ErrTooLarge
	default:
		return Result{}, fmt.Errorf("clamd: unexpected answer %q", reply)
	}
}

// Ping checks that clamd answers.
func (c *Client) Ping(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return fmt.Errorf("clamd: connect: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("clamd: ping: %w", err)
	}
	reply, err := bufio.NewReader(io.LimitReader(conn, 64)).ReadString(0)
	if err != nil || strings.TrimRight(reply, "\x00") != "PONG" {
		return fmt.Errorf("clamd: ping: unexpected answer %q (%v)", reply, err)
	}
	return nil
}
