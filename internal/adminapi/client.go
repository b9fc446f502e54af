package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"sealgate/vault"
)

// ErrUnauthorized means the admin listener refused the secret.
var ErrUnauthorized = errors.New("admin listener refused the secret")

// maxResponse bounds what the client reads from one answer; a listing of
// every transfer of a large installation fits many times over.
const maxResponse = 512 << 20

// Client talks to a running server's admin listener. It implements Admin,
// and rebuilds the server's errors so that callers can test them with
// errors.Is (vault.ErrNotFound, ErrInvalid, ErrUnauthorized) as they would
// with Local.
type Client struct {
	base   string
	secret string
	hc     *http.Client
}

var _ Admin = (*Client)(nil)

// NewClient returns a client for the admin listener at addr (host:port),
// authenticating with secret.
func NewClient(addr, secret string) *Client {
	return &Client{
		base:   "http://" + addr,
		secret: secret,
		// No proxy: the admin listener is local, and the secret must not
		// travel through anything configured in the environment.
		hc: &http.Client{Transport: &http.Transport{
			Proxy:                 nil,
			ResponseHeaderTimeout: 0, // a purge with compaction may take minutes; ctx bounds it
			IdleConnTimeout:       30 * time.Second,
		}},
	}
}

// Transfers implements Admin.
func (c *Client) Transfers(ctx context.Context, f vault.TransferFilter) ([]Transfer, error) {
	q := url.Values{}
	for k, v := range map[string]string{"sender": f.Sender, "recipient": f.Recipient, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out []Transfer
	err := c.do(ctx, http.MethodGet, "/admin/v1/transfers?"+q.Encode(), nil, &out)
	return out, err
}

// Transfer implements Admin.
func (c *Client) Transfer(ctx context.Context, id string) (Transfer, error) {
	var out Transfer
	err := c.do(ctx, http.MethodGet, "/admin/v1/transfers/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Revoke implements Admin.
func (c *Client) Revoke(ctx context.Context, id string) (Transfer, error) {
	var out Transfer
	err := c.do(ctx, http.MethodPost, "/admin/v1/transfers/"+url.PathEscape(id)+"/revoke", nil, &out)
	return out, err
}

// Accounts implements Admin.
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var out []Account
	err := c.do(ctx, http.MethodGet, "/admin/v1/accounts", nil, &out)
	return out, err
}

// DeleteAccount implements Admin.
func (c *Client) DeleteAccount(ctx context.Context, email string) error {
	return c.do(ctx, http.MethodDelete, "/admin/v1/accounts/"+url.PathEscape(email), nil, nil)
}

// Purge implements Admin.
func (c *Client) Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error) {
	var out PurgeResult
	err := c.do(ctx, http.MethodPost, "/admin/v1/purge", req, &out)
	return out, err
}

// RotateKey implements Admin.
func (c *Client) RotateKey(ctx context.Context) (KeyRotation, error) {
	var out KeyRotation
	err := c.do(ctx, http.MethodPost, "/admin/v1/keys/rotate", nil, &out)
	return out, err
}

// ReceiptKey implements Admin.
func (c *Client) ReceiptKey(ctx context.Context) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, "/admin/v1/receipt-key", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (nil: the answer is discarded).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("admin listener: reading the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send returns the response of a successful (2xx) request; any other
// answer becomes an error carrying the server's message.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("admin request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("admin request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var eb errorBody
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb)
	if eb.Error == "" {
		eb.Error = resp.Status
	}
	var kind error
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		kind = ErrUnauthorized
	case http.StatusBadRequest:
		kind = ErrInvalid
	case http.StatusNotFound:
		kind = vault.ErrNotFound
	}
	return nil, &serverError{msg: eb.Error, kind: kind}
}

// serverError is an error the admin listener reported. Its text is the
// server's, unchanged, so that both ways of running a command print the
// same sentence.
type serverError struct {
	msg  string
	kind error
}

func (e *serverError) Error() string { return e.msg }
func (e *serverError) Unwrap() error { return e.kind }
