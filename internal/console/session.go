package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

const (
	sessionCookie = "pp_session"
	loginCookie   = "pp_login" // double-submit token of the sign-in form
	// maxSessions bounds the memory sessions take; the oldest go first.
	maxSessions = 10000
	// reauthEvery is how often a session's API key is checked again, so
	// that a deleted key ends its sessions.
	reauthEvery = 10 * time.Second
)

// session is a signed-in browser. The API key's secret is kept in server
// memory only (never in the cookie) to check the key again every
// reauthEvery.
type session struct {
	token   string
	csrf    string
	key     string
	secret  string
	org     *control.Organization
	expires time.Time
	created time.Time
	mu      sync.Mutex
	checked time.Time
	streams int
	flash   string
	actions map[string]peeringAction // the last Continue or Create connection, by peering
	// answered counts the actions answered with patches: the page then
	// shows what the answer said, which its live stream did not send.
	answered uint64
}

// answeredActions returns how many of the session's actions were answered
// with patches.
func (s *session) answeredActions() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered
}

func (s *session) organization() *control.Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.org
}

// setFlash keeps a message for the next page shown to the session.
func (s *session) setFlash(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flash = msg
}

func (s *session) takeFlash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := s.flash
	s.flash = ""
	return msg
}

type sessionStore struct {
	now func() time.Time
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*session
}

func newSessionStore(now func() time.Time, ttl time.Duration) *sessionStore {
	return &sessionStore{now: now, ttl: ttl, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (st *sessionStore) create(key, secret string, org *control.Organization) *session {
	now := st.now()
	s := &session{token: randomToken(), csrf: randomToken(), key: key, secret: secret, org: org,
		expires: now.Add(st.ttl), checked: now, created: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	for t, o := range st.m {
		if now.After(o.expires) {
			delete(st.m, t)
		}
	}
	for len(st.m) >= maxSessions {
		var oldest *session
		for _, o := range st.m {
			if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(st.m, oldest.token)
	}
	st.m[s.token] = s
	return s
}

func (st *sessionStore) get(token string) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[token]
	if s != nil && st.now().After(s.expires) {
		delete(st.m, token)
		return nil
	}
	return s
}

func (st *sessionStore) delete(token string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, token)
}

// currentSession returns the request's session, checking its API key
// again when it was last checked more than reauthEvery ago; nil when there
// is none or the key no longer authenticates.
func (c *Console) currentSession(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	s := c.sessions.get(ck.Value)
	if s == nil {
		return nil
	}
	if !c.recheck(r.Context(), s) {
		return nil
	}
	return s
}

// recheck authenticates s's key again when due; false ends the session.
func (c *Console) recheck(ctx context.Context, s *session) bool {
	now := c.opts.Now()
	s.mu.Lock()
	due := now.Sub(s.checked) >= reauthEvery
	s.mu.Unlock()
	if !due {
		return true
	}
	org, err := c.opts.Orgs.Authenticate(ctx, s.key, s.secret)
	if err != nil {
		if control.ErrorCode(err) == control.EUNAUTHORIZED {
			c.sessions.delete(s.token)
		}
		return false
	}
	s.mu.Lock()
	s.org, s.checked = org, now
	s.mu.Unlock()
	return true
}

func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.opts.SecureCookies }

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
}

// checkPost accepts a POST only from this origin (Origin or, without it,
// Sec-Fetch-Site) carrying want as its csrf form field.
func (c *Console) checkPost(r *http.Request, want string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	} else if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext returns next when it is a path inside the console, so that the
// sign-in page cannot be made to redirect elsewhere.
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return Prefix + "environments"
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if c.currentSession(r) == nil {
		http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"environments", http.StatusSeeOther)
}

type loginData struct {
	CSRF  string
	Next  string
	Key   string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.currentSession(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	tok := randomToken()
	c.setCookie(w, r, loginCookie, tok, 3600)
	c.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Data: loginData{CSRF: tok, Next: r.URL.Query().Get("next")}})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || !c.checkPost(r, ck.Value) {
		c.renderError(w, r, nil, http.StatusForbidden, "The sign-in form has expired. Reload the page and try again.")
		return
	}
	key, secret := strings.TrimSpace(r.PostFormValue("key")), strings.TrimSpace(r.PostFormValue("secret"))
	next := r.PostFormValue("next")
	now := time.Now()
	if wait := c.signIns.wait(key, now); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.render(w, r, http.StatusTooManyRequests, "login", page{Title: "Sign in", Data: loginData{CSRF: ck.Value, Next: next, Key: key,
			Error: fmt.Sprintf("Too many failed sign-ins with this API key; try again in %d s.", secs)}})
		return
	}
	org, err := c.opts.Orgs.Authenticate(r.Context(), key, secret)
	if err != nil {
		msg := "That API key and secret do not match a Cloud API key."
		status := http.StatusUnauthorized
		if control.ErrorCode(err) == control.EUNAUTHORIZED {
			c.signIns.failed(key, now)
		} else {
			c.opts.Logger.Error("console sign-in", "err", err)
			msg, status = "Signing in failed; try again.", http.StatusInternalServerError
		}
		c.render(w, r, status, "login", page{Title: "Sign in", Data: loginData{CSRF: ck.Value, Next: next, Key: key, Error: msg}})
		return
	}
	s := c.sessions.create(key, secret, org)
	c.setCookie(w, r, loginCookie, "", -1)
	c.setCookie(w, r, sessionCookie, s.token, int(c.opts.SessionTTL/time.Second))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if s := c.currentSession(r); s != nil && c.checkPost(r, s.csrf) {
		c.sessions.delete(s.token)
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
