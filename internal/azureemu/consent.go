package azureemu

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The admin consent page and the device login page: plain server-rendered
// HTML forms. POSTs are protected against cross-site request forgery with
// a double-submit token: a random nonce in a SameSite=Strict cookie and,
// in a hidden field, an HMAC (keyed from the signing key) of that nonce,
// the page and an expiry.

const (
	csrfCookie   = "pp_csrf"
	csrfField    = "csrf_token"
	csrfLifetime = time.Hour
)

// pageData fills the page template.
type pageData struct {
	Title   string
	Heading string
	Lead    string      // one paragraph under the heading
	Facts   [][2]string // a definition list
	Notes   []string
	Error   string
	Success string
	Form    bool
	Action  string
	CSRF    string
	Hidden  [][2]string
	// Fields of the sign-in form.
	ShowCode    bool
	Code        string
	Username    string
	FocusPass   bool
	AcceptLabel string
	ShowCancel  bool
	Continue    string // a link to follow after success
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Peerplane embedded Entra ID</title>
<style>
:root { color-scheme: light dark; --accent: #0b5cad; --err: #a4262c; --ok: #107c10; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: Canvas; color: CanvasText; }
main { max-width: 30rem; margin: 3rem auto; padding: 2rem; border: 1px solid #8886; border-radius: 8px; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
.brand { font-size: .875rem; opacity: .8; margin-bottom: 1.5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
label { display: block; font-weight: 600; margin-top: 1rem; }
input[type=text], input[type=email], input[type=password] { width: 100%; padding: .5rem; font: inherit; border: 1px solid #888; border-radius: 4px; margin-top: .25rem; }
input:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.buttons { display: flex; gap: .75rem; margin-top: 1.5rem; }
button { font: inherit; padding: .5rem 1.25rem; border-radius: 4px; border: 1px solid var(--accent); cursor: pointer; }
button.primary { background: var(--accent); color: #fff; }
button.secondary { background: transparent; color: inherit; }
.error { border-left: 4px solid var(--err); padding: .5rem .75rem; margin: 1rem 0; background: #a4262c1a; }
.success { border-left: 4px solid var(--ok); padding: .5rem .75rem; margin: 1rem 0; background: #107c101a; }
code { font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<main>
<div class="brand">Peerplane embedded Entra ID</div>
<h1>{{.Heading}}</h1>
{{if .Error}}<div class="error" role="alert" id="error">{{.Error}}</div>{{end}}
{{if .Success}}<div class="success" role="status" id="success">{{.Success}}</div>{{end}}
{{if .Lead}}<p>{{.Lead}}</p>{{end}}
{{if .Facts}}<dl>{{range .Facts}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>{{end}}
{{range .Notes}}<p>{{.}}</p>{{end}}
{{if .Continue}}<p><a href="{{.Continue}}" id="continue">Continue</a></p>{{end}}
{{if .Form}}
<form method="post" action="{{.Action}}" novalidate>
<input type="hidden" name="{{"csrf_token"}}" value="{{.CSRF}}">
{{range .Hidden}}<input type="hidden" name="{{index . 0}}" value="{{index . 1}}">
{{end}}
{{if .ShowCode}}<label for="code">Code</label>
<input type="text" id="code" name="code" value="{{.Code}}" autocomplete="off" autocapitalize="characters" required {{if not .Code}}autofocus{{end}}>
{{end}}
<label for="username">Username</label>
<input type="email" id="username" name="username" value="{{.Username}}" autocomplete="username" required {{if and (not .FocusPass) (or (not .ShowCode) .Code)}}autofocus{{end}}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required {{if .FocusPass}}autofocus{{end}}>
<div class="buttons">
<button type="submit" class="primary" id="accept" name="action" value="accept">{{.AcceptLabel}}</button>
{{if .ShowCancel}}<button type="submit" class="secondary" id="cancel" name="action" value="cancel" formnovalidate>Cancel</button>{{end}}
</div>
</form>
{{end}}
</main>
</body>
</html>
`))

// renderPage writes an HTML page with status and headers that keep it
// from being framed or caching credentials.
func (e *Emulator) renderPage(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	if d.AcceptLabel == "" {
		d.AcceptLabel = "Sign in"
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if err := pageTmpl.Execute(w, d); err != nil {
		e.log.Error("render page", "err", err)
	}
}

// csrfKey derives the HMAC key for CSRF tokens from the signing key, so
// tokens stay valid across restarts and differ between emulators.
func (e *Emulator) csrfKey() []byte {
	h := sha256.New()
	h.Write([]byte("peerplane azureemu csrf v1\x00"))
	h.Write(e.signer.D.Bytes())
	return h.Sum(nil)
}

func (e *Emulator) csrfMAC(nonce, page string, exp int64) string {
	m := hmac.New(sha256.New, e.csrfKey())
	fmt.Fprintf(m, "%s\x00%s\x00%d", nonce, page, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfIssue returns a token for page, setting the nonce cookie if the
// browser has none yet.
func (e *Emulator) csrfIssue(w http.ResponseWriter, r *http.Request, page string) string {
	nonce := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		nonce = c.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		nonce = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: "/", HttpOnly: true,
			Secure: strings.HasPrefix(e.base, "https://"), SameSite: http.SameSiteStrictMode})
	}
	exp := e.now().Add(csrfLifetime).Unix()
	return strconv.FormatInt(exp, 10) + "." + e.csrfMAC(nonce, page, exp)
}

// csrfCheck verifies the POSTed token against the cookie and the page.
func (e *Emulator) csrfCheck(r *http.Request, page, token string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	expS, mac, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil || e.now().Unix() > exp {
		return false
	}
	want := e.csrfMAC(c.Value, page, exp)
	return subtle.ConstantTimeCompare([]byte(want), []byte(mac)) == 1
}

// consentRequest is a parsed admin consent request.
type consentRequest struct {
	auth        entraAuthority
	clientID    string
	redirectURI string
	state       string
	app         *Application
	publisher   *Tenant
	page        string // what the CSRF token is bound to
	action      string // the form's action URL
}

// consentError is a refusal shown on the page (or sent to redirect_uri).
type consentError struct {
	status int
	code   string // OAuth error for the redirect
	msg    string // "AADSTS…: …"
}

func (c *consentError) Error() string { return c.msg }

func (e *Emulator) parseConsent(r *http.Request, auth entraAuthority, rest string, q url.Values) (*consentRequest, *consentError) {
	cr := &consentRequest{auth: auth, clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), state: q.Get("state")}
	if cr.clientID == "" {
		return cr, &consentError{400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'client_id'."}
	}
	if strings.Contains(rest, "authorize") {
		rt := q.Get("response_type")
		if rt == "" {
			return cr, &consentError{400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'response_type'."}
		}
		if !strings.Contains(" "+rt+" ", " code ") {
			return cr, &consentError{400, "unsupported_response_type", fmt.Sprintf("AADSTS700054: response_type '%s' is not enabled for the application; the emulator's authorize endpoint supports response_type=code for admin consent.", rt)}
		}
	}
	dir := auth.Segment
	if auth.specific() {
		dir = auth.Tenant.ID
	}
	app, ok := e.FindApplication(cr.clientID)
	if !ok {
		return cr, &consentError{400, "unauthorized_client", "AADSTS700016: " + appNotFound(cr.clientID, dir).desc}
	}
	cr.app = app
	cr.publisher, _ = e.FindTenant(app.TenantID)
	if cr.redirectURI != "" {
		if cerr := checkRedirectURI(app, cr.redirectURI); cerr != nil {
			return cr, cerr
		}
	}
	if auth.specific() && !app.Multitenant() && !strings.EqualFold(app.TenantID, auth.Tenant.ID) {
		return cr, notMultitenant(app)
	}
	cr.page = strings.ToLower(r.URL.Path) + "\x00" + cr.clientID + "\x00" + cr.redirectURI + "\x00" + cr.state
	cr.action = r.URL.Path + "?" + q.Encode()
	return cr, nil
}

func notMultitenant(app *Application) *consentError {
	return &consentError{400, "unauthorized_client", fmt.Sprintf("AADSTS50194: Application '%s'(%s) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant; only the publisher's own tenant can consent to it.", app.AppID, app.DisplayName)}
}

// checkRedirectURI refuses a redirect_uri that is not one of app's
// registered reply URLs, as Entra ID does: the consent pages send a
// browser back only to where the app's owner said, never to a URL a link
// names (an open redirect). The comparison is exact but for the case of
// the scheme and host.
func checkRedirectURI(app *Application, raw string) *consentError {
	if len(app.RedirectURIs) == 0 {
		return &consentError{400, "invalid_request", fmt.Sprintf("AADSTS500113: No reply address is registered for the application '%s', so the redirect URI '%s' is refused.", app.AppID, raw)}
	}
	want, ok := normalizeReplyURL(raw)
	if ok {
		for _, r := range app.RedirectURIs {
			if have, _ := normalizeReplyURL(r); have == want {
				return nil
			}
		}
	}
	return &consentError{400, "invalid_request", fmt.Sprintf("AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one registered for the application.", raw, app.AppID)}
}

// normalizeReplyURL returns raw with its scheme and host lower-cased, and
// whether it may be a reply URL at all: absolute, https or http on
// loopback (Entra ID allows plain http only for localhost), no user
// information and no fragment.
func normalizeReplyURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") || u.Opaque != "" {
		return "", false
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		ip := net.ParseIP(h)
		if h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", false
		}
	default:
		return "", false
	}
	return u.String(), true
}

// AddApplicationRedirectURI registers uri as a reply URL of the app, as
// `az ad app update --web-redirect-uris` does, unless it is there already
// (then nothing is written). It returns a 404 *Error when the app does not
// exist and a 400 one when uri cannot be a reply URL (not https, or http
// on other than loopback; user information or a fragment).
func (e *Emulator) AddApplicationRedirectURI(ctx context.Context, appID, uri string) error {
	want, ok := normalizeReplyURL(uri)
	if !ok {
		return errorf(400, "InvalidRedirectUri", "The reply URL '%s' must be an absolute https URL, or http on localhost or a loopback address, without user information or a fragment.", uri)
	}
	return e.update(ctx, func(t *txn) error {
		app := t.s.apps[lower(appID)]
		if app == nil {
			return errorf(404, "ApplicationNotFound", "The application '%s' was not found.", appID)
		}
		for _, r := range app.RedirectURIs {
			if have, _ := normalizeReplyURL(r); have == want {
				return nil
			}
		}
		app.RedirectURIs = append(slices.Clip(app.RedirectURIs), uri)
		t.put(KindApplication, app.AppID, app)
		return nil
	})
}

func (cr *consentRequest) pageBase() pageData {
	d := pageData{Title: "Permissions requested", Heading: "Permissions requested"}
	if cr.app == nil {
		return d
	}
	pub := cr.app.TenantID
	if cr.publisher != nil {
		pub = fmt.Sprintf("%s (%s)", cr.publisher.DisplayName, cr.publisher.ID)
	}
	target := "the tenant of the administrator who signs in"
	if cr.auth.specific() {
		target = fmt.Sprintf("%s (%s)", cr.auth.Tenant.DisplayName, cr.auth.Tenant.ID)
	}
	d.Lead = fmt.Sprintf("%s wants access to your organization.", cr.app.DisplayName)
	d.Facts = [][2]string{{"Application", cr.app.DisplayName}, {"Application (client) id", cr.app.AppID},
		{"Publisher tenant", pub}, {"Your tenant", target}}
	d.Notes = []string{
		"Accepting creates the app's service principal in your tenant. The app can then get tokens for your tenant, but it can only do what you later grant its service principal with Azure role assignments.",
		"Only a Global Administrator of your tenant can accept. Sign in with an administrator account.",
	}
	return d
}

func (e *Emulator) serveConsent(w http.ResponseWriter, r *http.Request, auth entraAuthority, rest string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		e.renderPage(w, r, http.StatusMethodNotAllowed, pageData{Title: "Error", Heading: "Method not allowed",
			Error: fmt.Sprintf("AADSTS900561: The endpoint only accepts GET and POST requests. Received a %s request.", r.Method)})
		return
	}
	q := r.URL.Query()
	cr, cerr := e.parseConsent(r, auth, rest, q)
	if cerr != nil {
		d := cr.pageBase()
		d.Heading, d.Lead, d.Facts, d.Notes = "We couldn't complete the request", "", nil, nil
		d.Error = cerr.msg
		e.renderPage(w, r, cerr.status, d)
		return
	}
	if r.Method != http.MethodPost {
		d := cr.pageBase()
		d.Form, d.Action, d.ShowCancel, d.AcceptLabel = true, cr.action, true, "Accept"
		d.CSRF = e.csrfIssue(w, r, cr.page)
		e.renderPage(w, r, http.StatusOK, d)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		d := cr.pageBase()
		d.Error = "The form could not be read: the body is not a valid application/x-www-form-urlencoded form."
		e.renderPage(w, r, http.StatusBadRequest, d)
		return
	}
	f := r.PostForm
	retry := func(status int, msg string, focusPass bool) {
		d := cr.pageBase()
		d.Form, d.Action, d.ShowCancel, d.AcceptLabel = true, cr.action, true, "Accept"
		d.Error, d.Username, d.FocusPass = msg, f.Get("username"), focusPass
		d.CSRF = e.csrfIssue(w, r, cr.page)
		e.renderPage(w, r, status, d)
	}
	if !e.csrfCheck(r, cr.page, f.Get(csrfField)) {
		retry(http.StatusForbidden, "This form expired or was not opened in this browser (its anti-forgery token is missing or invalid). Nothing was changed. Review the request and submit it again.", false)
		return
	}
	switch f.Get("action") {
	case "cancel":
		if cr.redirectURI != "" {
			e.consentRedirect(w, r, cr, url.Values{"error": {"access_denied"}, "error_description": {"AADSTS65004: User declined to consent to access the app."}})
			return
		}
		d := cr.pageBase()
		d.Heading, d.Notes = "Request declined", nil
		d.Success = "You declined. Nothing was changed in your tenant."
		e.renderPage(w, r, http.StatusOK, d)
		return
	case "accept":
	default:
		retry(http.StatusBadRequest, "The form must be submitted with Accept or Cancel (field 'action').", false)
		return
	}
	upn, pw := strings.TrimSpace(f.Get("username")), f.Get("password")
	if upn == "" || pw == "" {
		retry(http.StatusBadRequest, "Enter your username and password.", upn != "")
		return
	}
	u, terr := e.signIn(auth, upn, pw)
	if terr != nil {
		retry(http.StatusUnauthorized, terr.aadsts+": "+terr.desc, terr.aadsts == "AADSTS50126")
		return
	}
	tenant, _ := e.FindTenant(u.TenantID)
	if tenant == nil {
		retry(http.StatusBadRequest, userNotInTenant(u.TenantID).aadsts+": "+userNotInTenant(u.TenantID).desc, false)
		return
	}
	if !u.GlobalAdmin {
		d := cr.pageBase()
		d.Heading, d.Notes = "Need admin approval", nil
		d.Error = fmt.Sprintf("AADSTS90094: The grant requires admin permission. %s needs permission to access resources in your organization that only an administrator can grant. %s is not a Global Administrator of %s (%s): ask one to open this page and approve it. Nothing was changed.",
			cr.app.DisplayName, u.UserPrincipalName, tenant.DisplayName, tenant.ID)
		e.renderPage(w, r, http.StatusForbidden, d)
		return
	}
	if !cr.app.Multitenant() && !strings.EqualFold(cr.app.TenantID, tenant.ID) {
		d := cr.pageBase()
		d.Heading, d.Notes = "We couldn't complete the request", nil
		d.Error = notMultitenant(cr.app).msg
		e.renderPage(w, r, http.StatusBadRequest, d)
		return
	}
	var sp *ServicePrincipal
	// The consent is the signed-in administrator's change.
	err := e.update(withActor(r.Context(), u.ID), func(t *txn) error {
		app := t.s.apps[lower(cr.app.AppID)]
		if app == nil {
			return errorf(400, "AADSTS700016", "%s", appNotFound(cr.app.AppID, tenant.ID).desc)
		}
		s, err := e.ensureServicePrincipalTx(t, tenant.ID, app)
		if s != nil {
			c := *s
			sp = &c
		}
		return err
	})
	if err != nil {
		var ee *Error
		status := http.StatusInternalServerError
		msg := "The consent could not be saved. Try again."
		if errors.As(err, &ee) && ee.Status < 500 {
			status, msg = ee.Status, ee.Code+": "+ee.Message
		} else {
			e.log.Error("admin consent", "err", err)
		}
		d := cr.pageBase()
		d.Heading, d.Notes, d.Error = "We couldn't complete the request", nil, msg
		e.renderPage(w, r, status, d)
		return
	}
	e.log.Info("admin consent", "tenant", tenant.ID, "app", cr.app.AppID, "servicePrincipal", sp.ID, "by", u.UserPrincipalName)
	if cr.redirectURI != "" {
		e.consentRedirect(w, r, cr, url.Values{"admin_consent": {"True"}, "tenant": {tenant.ID}})
		return
	}
	d := cr.pageBase()
	d.Heading, d.Notes = "Permissions granted", nil
	d.Success = fmt.Sprintf("%s now has a service principal in %s.", cr.app.DisplayName, tenant.DisplayName)
	d.Facts = append(d.Facts[:2:2], [2]string{"Tenant", fmt.Sprintf("%s (%s)", tenant.DisplayName, tenant.ID)},
		[2]string{"Service principal object id", sp.ID}, [2]string{"Approved by", u.UserPrincipalName})
	d.Notes = []string{"Next, grant the service principal the Azure role the application documents, at the scope it needs. You can close this window."}
	e.renderPage(w, r, http.StatusOK, d)
}

// consentRedirect sends the browser back to redirect_uri with params and
// the request's state. After an approval that is Entra ID's admin-consent
// answer, admin_consent=True&tenant=…; Entra answers /oauth2/authorize
// with an authorization code (code, session_state) instead, but the
// emulator issues none (it has no authorization_code grant), so both
// endpoints answer as /v2.0/adminconsent does.
func (e *Emulator) consentRedirect(w http.ResponseWriter, r *http.Request, cr *consentRequest, params url.Values) {
	u, _ := url.Parse(cr.redirectURI)
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if cr.state != "" {
		q.Set("state", cr.state)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// serveDeviceLogin is the page where a user enters a device code and signs
// in to approve it.
func (e *Emulator) serveDeviceLogin(w http.ResponseWriter, r *http.Request) {
	const page = "devicelogin"
	base := pageData{Title: "Enter code", Heading: "Enter code",
		Lead: "Enter the code displayed on your app or device, then sign in to allow it to act as you.",
		Form: true, Action: "/devicelogin", ShowCode: true, AcceptLabel: "Sign in"}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d := base
		d.Code = strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("otc")))
		d.CSRF = e.csrfIssue(w, r, page)
		e.renderPage(w, r, http.StatusOK, d)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		e.renderPage(w, r, http.StatusMethodNotAllowed, pageData{Title: "Error", Heading: "Method not allowed",
			Error: fmt.Sprintf("AADSTS900561: The endpoint only accepts GET and POST requests. Received a %s request.", r.Method)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		d := base
		d.Error = "The form could not be read: the body is not a valid application/x-www-form-urlencoded form."
		d.CSRF = e.csrfIssue(w, r, page)
		e.renderPage(w, r, http.StatusBadRequest, d)
		return
	}
	f := r.PostForm
	code := strings.ToUpper(strings.TrimSpace(f.Get("code")))
	retry := func(status int, msg string, focusPass bool) {
		d := base
		d.Code, d.Username, d.Error, d.FocusPass = code, f.Get("username"), msg, focusPass
		d.CSRF = e.csrfIssue(w, r, page)
		e.renderPage(w, r, status, d)
	}
	if !e.csrfCheck(r, page, f.Get(csrfField)) {
		retry(http.StatusForbidden, "This form expired or was not opened in this browser (its anti-forgery token is missing or invalid). Submit it again.", false)
		return
	}
	if code == "" {
		retry(http.StatusBadRequest, "Enter the code shown on your device (field 'code').", false)
		return
	}
	now := e.now()
	var pc pendingCode
	found := false
	e.codesMu.Lock()
	for _, c := range e.codes {
		if subtle.ConstantTimeCompare([]byte(c.UserCode), []byte(code)) == 1 && now.Before(c.Expires) && c.UserID == "" {
			pc, found = *c, true
			break
		}
	}
	e.codesMu.Unlock()
	if !found {
		retry(http.StatusBadRequest, "AADSTS70019: That code didn't work. Check the code and try again: it may have expired or already been used.", false)
		return
	}
	upn, pw := strings.TrimSpace(f.Get("username")), f.Get("password")
	if upn == "" || pw == "" {
		retry(http.StatusBadRequest, "Enter your username and password.", upn != "")
		return
	}
	u, terr := e.signIn(pc.Auth, upn, pw)
	if terr != nil {
		retry(http.StatusUnauthorized, terr.aadsts+": "+terr.desc, terr.aadsts == "AADSTS50126")
		return
	}
	if err := e.publicClient(pc.ClientID, u.TenantID); err != nil {
		retry(http.StatusForbidden, err.Error(), false)
		return
	}
	e.codesMu.Lock()
	if c := e.codes[pc.DeviceCode]; c != nil && c.UserID == "" {
		c.UserID = u.ID
	}
	e.codesMu.Unlock()
	e.renderPage(w, r, http.StatusOK, pageData{Title: "Signed in", Heading: "You're signed in",
		Success: fmt.Sprintf("You have signed in as %s to the application on your device. You may now close this window.", u.UserPrincipalName)})
}
