package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	cmkv2 "github.com/confluentinc/ccloud-sdk-go-v2/cmk/v2"
	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"
)

// client talks to the control-plane API: the Confluent routes through
// Confluent's SDK, /peerplane/v1 through net/http.
type client struct {
	creds credentials
	http  *http.Client
	net   *networkingv1.APIClient
	cmk   *cmkv2.APIClient
	org   *orgv2.APIClient
}

const userAgent = "peerplane-cli"

func newClient(c credentials) *client {
	hc := &http.Client{Timeout: 60 * time.Second}
	ncfg := networkingv1.NewConfiguration()
	ncfg.Servers = networkingv1.ServerConfigurations{{URL: c.URL}}
	ncfg.HTTPClient, ncfg.UserAgent = hc, userAgent
	ccfg := cmkv2.NewConfiguration()
	ccfg.Servers = cmkv2.ServerConfigurations{{URL: c.URL}}
	ccfg.HTTPClient, ccfg.UserAgent = hc, userAgent
	ocfg := orgv2.NewConfiguration()
	ocfg.Servers = orgv2.ServerConfigurations{{URL: c.URL}}
	ocfg.HTTPClient, ocfg.UserAgent = hc, userAgent
	return &client{creds: c, http: hc, net: networkingv1.NewAPIClient(ncfg), cmk: cmkv2.NewAPIClient(ccfg), org: orgv2.NewAPIClient(ocfg)}
}

// auth returns ctx carrying the API key for the three SDKs.
func (c *client) auth(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, networkingv1.ContextBasicAuth, networkingv1.BasicAuth{UserName: c.creds.Key, Password: c.creds.Secret})
	ctx = context.WithValue(ctx, cmkv2.ContextBasicAuth, cmkv2.BasicAuth{UserName: c.creds.Key, Password: c.creds.Secret})
	ctx = context.WithValue(ctx, orgv2.ContextBasicAuth, orgv2.BasicAuth{UserName: c.creds.Key, Password: c.creds.Secret})
	return ctx
}

// APIError is the control plane's error body (Confluent's Failure), as the
// CLI shows it: the detail and the field it names.
type APIError struct {
	Status    int
	Code      string
	Title     string
	Detail    string
	Pointer   string
	Parameter string
}

// Field is the JSON pointer or query parameter the error names, or "".
func (e *APIError) Field() string {
	if e.Pointer != "" {
		return e.Pointer
	}
	return e.Parameter
}

func (e *APIError) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	var extra []string
	if f := e.Field(); f != "" {
		extra = append(extra, "field "+f)
	}
	if e.Code != "" {
		extra = append(extra, fmt.Sprintf("%d %s", e.Status, e.Code))
	} else {
		extra = append(extra, fmt.Sprintf("HTTP %d", e.Status))
	}
	msg += " (" + strings.Join(extra, "; ") + ")"
	if e.Status == http.StatusUnauthorized {
		msg += "\nCheck the API key: run `peerplane login`, or set $PEERPLANE_API_KEY and $PEERPLANE_API_SECRET."
	}
	return msg
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// parseFailure decodes an error response body.
func parseFailure(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var f struct {
		Errors []struct {
			Code, Title, Detail string
			Source              *struct{ Pointer, Parameter string }
		}
	}
	if json.Unmarshal(body, &f) == nil && len(f.Errors) > 0 {
		it := f.Errors[0]
		e.Code, e.Title, e.Detail = it.Code, it.Title, it.Detail
		if it.Source != nil {
			e.Pointer, e.Parameter = it.Source.Pointer, it.Source.Parameter
		}
		return e
	}
	// connect/v1's error body.
	var ce struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &ce) == nil && ce.Error != nil && ce.Error.Message != "" {
		e.Detail = ce.Error.Message
		return e
	}
	// Not the API's error body (a proxy, another server): say what came back
	// without dumping it.
	e.Detail = fmt.Sprintf("The server answered %d %s.", status, http.StatusText(status))
	if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "{<") {
		e.Detail += " " + s
	}
	return e
}

// result turns an SDK call's outcome into the raw JSON body, or an error
// the CLI can show.
func (c *client) result(resp *http.Response, err error) ([]byte, error) {
	var body []byte
	if resp != nil && resp.Body != nil {
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp != nil && resp.StatusCode >= 400 {
		return nil, parseFailure(resp.StatusCode, body)
	}
	if err != nil && resp == nil {
		return nil, c.transportError(err)
	}
	if err != nil && len(body) == 0 {
		return nil, fmt.Errorf("%s: %w", c.creds.URL, err)
	}
	return body, nil
}

// transportError explains a failure to reach the API.
func (c *client) transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("cannot reach the Peerplane API at %s: %v (is `peerplane serve` running? set --url or $PEERPLANE_URL)", c.creds.URL, ue.Err)
	}
	return err
}

// do sends a request to a /peerplane/v1 route and returns the body.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.creds.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.creds.Key, c.creds.Secret)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(err)
	}
	return c.result(resp, nil)
}

// pageToken returns the page_token of a list's metadata.next link.
func pageToken(raw []byte) string {
	var l struct {
		Metadata struct {
			Next string `json:"next"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &l) != nil || l.Metadata.Next == "" {
		return ""
	}
	u, err := url.Parse(l.Metadata.Next)
	if err != nil {
		return ""
	}
	return u.Query().Get("page_token")
}

// listData returns the items of one list page.
func listData(raw []byte) ([]json.RawMessage, error) {
	var l struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("the API's list is not JSON: %w", err)
	}
	return l.Data, nil
}

// collect pages through a list, calling page with each page token ("" for
// the first) until metadata.next is empty.
func collect(page func(token string) ([]byte, error)) ([]json.RawMessage, error) {
	var all []json.RawMessage
	token := ""
	for range 1000 {
		raw, err := page(token)
		if err != nil {
			return nil, err
		}
		items, err := listData(raw)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if token = pageToken(raw); token == "" {
			return all, nil
		}
	}
	return all, errors.New("the API's list has more than 1000 pages")
}

const listPageSize = 100
