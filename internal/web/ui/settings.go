package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// settingsTabs are the tabs of the settings section the viewer may open.
func settingsTabs(se auth.Session, current string) []pageLink {
	var out []pageLink
	add := func(p auth.Permission, label, url string) {
		if se.Role.Can(p) {
			out = append(out, pageLink{Label: label, URL: url, Current: url == current})
		}
	}
	add(auth.PermJourney, "Journey map", "/settings/journey")
	add(auth.PermKeys, "API keys", "/settings/keys")
	add(auth.PermUsers, "People", "/settings/users")
	add(auth.PermSystem, "Email and webhooks", "/settings/delivery")
	return out
}

type settingsData struct {
	Tabs []pageLink
	Page any
}

func (s *Server) settingsView(r *http.Request, current, title string, page any) uiView {
	v := s.view(r, "settings", title, settingsData{Tabs: settingsTabs(uiSession(r), current), Page: page})
	return v
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/settings/journey", http.StatusSeeOther)
	return nil
}

// --- journey map versions ---------------------------------------------------

type journeyVersionsData struct {
	Versions []store.JourneyVersion
	Live     int
	// From and To are the versions compared; Changes what changed.
	From, To int
	Changes  []journey.Change
	Compared bool
	Same     bool
}

func (s *Server) settingsJourneyPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	vs, err := s.Store.JourneyVersions(ctx)
	if err != nil {
		return err
	}
	d := journeyVersionsData{Versions: vs}
	if len(vs) > 0 {
		d.Live = vs[0].Number
	}
	q := r.URL.Query()
	if q.Get("from") != "" || q.Get("to") != "" {
		from, err1 := strconv.Atoi(q.Get("from"))
		to, err2 := strconv.Atoi(q.Get("to"))
		if err1 != nil || err2 != nil || from < 0 || to < 1 {
			return uiBadRequest("from", "Choose two versions to compare.")
		}
		var old, cur *journey.Map
		if from > 0 {
			if old, err = s.Journey.Version(ctx, from); err != nil {
				return uiNotFound("There is no journey map version " + strconv.Itoa(from) + ".")
			}
		}
		if cur, err = s.Journey.Version(ctx, to); err != nil {
			return uiNotFound("There is no journey map version " + strconv.Itoa(to) + ".")
		}
		d.From, d.To, d.Compared = from, to, true
		d.Changes = journey.Diff(old, cur)
		d.Same = len(d.Changes) == 0
	} else if len(vs) > 0 {
		d.To = vs[0].Number
		d.From = d.To - 1
	}
	s.render(w, r, http.StatusOK, "settings_journey", s.settingsView(r, "/settings/journey", "Settings", d))
	return nil
}

// --- API keys -----------------------------------------------------------------

type keysData struct {
	Keys []store.APIKey
	// Secret is the key just created, shown this once.
	Secret  string
	Created store.APIKey
	Name    string
	Scope   string
	Error   string
}

func (s *Server) settingsKeysPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderKeys(w, r, http.StatusOK, keysData{Scope: auth.ScopeWrite})
}

func (s *Server) renderKeys(w http.ResponseWriter, r *http.Request, status int, d keysData) error {
	keys, err := s.Store.ListKeys(r.Context())
	if err != nil {
		return err
	}
	// Newest first: the key just created is at the top.
	for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
		keys[i], keys[j] = keys[j], keys[i]
	}
	d.Keys = keys
	v := s.settingsView(r, "/settings/keys", "Settings", d)
	v.Error = d.Error
	s.render(w, r, status, "settings_keys", v)
	return nil
}

func (s *Server) createKeyFromUI(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	scope := r.PostFormValue("scope")
	d := keysData{Name: name, Scope: scope}
	if scope != auth.ScopeWrite && scope != auth.ScopeAdmin {
		d.Error = "Choose a scope: write (send events) or admin (REST API)."
		return s.renderKeys(w, r, http.StatusBadRequest, d)
	}
	if name == "" {
		d.Error = "Give the key a name that says where it is used, such as “Segment production”."
		return s.renderKeys(w, r, http.StatusBadRequest, d)
	}
	k, secret, err := s.Keys.Create(r.Context(), scope, name)
	if err != nil {
		d.Error = "The key was not created: " + err.Error()
		return s.renderKeys(w, r, http.StatusBadRequest, d)
	}
	s.Logger.InfoContext(r.Context(), "api key created", "key", k.ID, "scope", k.Scope, "by", uiSession(r).User.Email)
	return s.renderKeys(w, r, http.StatusOK, keysData{Secret: secret, Created: k, Scope: auth.ScopeWrite})
}

func (s *Server) revokeKeyFromUI(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := s.Store.RevokeKey(r.Context(), id, s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return uiNotFound("There is no API key " + strconv.Quote(id) + ".")
	}
	if err != nil {
		return err
	}
	s.Logger.InfoContext(r.Context(), "api key revoked", "key", id, "by", uiSession(r).User.Email)
	back(w, r, "/settings/keys", "key_revoked")
	return nil
}

// --- people -------------------------------------------------------------------

type usersData struct {
	Users []store.User
	Roles []auth.Role
	// Password is the generated password of the person just added, shown
	// this once.
	Password string
	Added    store.User
	Email    string
	Name     string
	Role     string
	Policy   auth.PeopleConfig
}

func (s *Server) settingsUsersPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderUsers(w, r, http.StatusOK, usersData{Role: string(auth.RoleCSM)}, "")
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, status int, d usersData, msg string) error {
	users, err := s.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	d.Users, d.Roles, d.Policy = users, auth.Roles, s.People.Config()
	v := s.settingsView(r, "/settings/users", "Settings", d)
	v.Error = msg
	s.render(w, r, status, "settings_users", v)
	return nil
}

func (s *Server) addUserFromUI(w http.ResponseWriter, r *http.Request) error {
	d := usersData{Email: strings.TrimSpace(r.PostFormValue("email")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Role: r.PostFormValue("role")}
	role, err := auth.ParseRole(d.Role)
	if err != nil {
		return s.renderUsers(w, r, http.StatusBadRequest, d, "Choose a role: admin, ops, csm or viewer.")
	}
	u, pw, err := s.People.Add(r.Context(), d.Email, d.Name, role, "")
	if errors.Is(err, store.ErrUserExists) {
		return s.renderUsers(w, r, http.StatusConflict, d, "Someone with this email already exists.")
	}
	if err != nil {
		return s.renderUsers(w, r, http.StatusBadRequest, d, "The person was not added: "+err.Error()+".")
	}
	s.Logger.InfoContext(r.Context(), "person added", "user", u.ID, "role", u.Role, "by", uiSession(r).User.Email)
	return s.renderUsers(w, r, http.StatusOK, usersData{Password: pw, Added: u, Role: string(auth.RoleCSM)}, "")
}

// updateUserFromUI changes a role, disables or enables someone, or resets
// their password (action = role, disable, enable, reset).
func (s *Server) updateUserFromUI(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	u, err := s.Store.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return uiNotFound("There is no such person.")
	}
	if err != nil {
		return err
	}
	switch r.PostFormValue("action") {
	case "role":
		role, perr := auth.ParseRole(r.PostFormValue("role"))
		if perr != nil {
			return s.renderUsers(w, r, http.StatusBadRequest, usersData{Role: string(auth.RoleCSM)}, "Choose a role: admin, ops, csm or viewer.")
		}
		err = s.People.SetRole(ctx, id, role)
	case "disable":
		err = s.People.SetDisabled(ctx, id, true)
	case "enable":
		err = s.People.SetDisabled(ctx, id, false)
	case "reset":
		pw := auth.GeneratePassword()
		if err = s.People.SetPassword(ctx, id, pw); err == nil {
			return s.renderUsers(w, r, http.StatusOK, usersData{Password: pw, Added: u, Role: string(auth.RoleCSM)}, "")
		}
	default:
		return uiBadRequest("action", "Unknown change.")
	}
	if errors.Is(err, auth.ErrLastAdmin) {
		return s.renderUsers(w, r, http.StatusConflict, usersData{Role: string(auth.RoleCSM)},
			"This is the only active admin: make someone else admin first.")
	}
	if err != nil {
		return err
	}
	s.Logger.InfoContext(ctx, "person updated", "user", id, "action", r.PostFormValue("action"), "by", uiSession(r).User.Email)
	back(w, r, "/settings/users", "user_updated")
	return nil
}

// --- email and webhooks -------------------------------------------------------

type deliveryData struct {
	Configured bool
	SMTP       []uiFact
	Webhooks   []uiFact
}

func (s *Server) settingsDeliveryPage(w http.ResponseWriter, r *http.Request) error {
	d := deliveryData{}
	if c := s.Delivery; c != nil {
		d.Configured = true
		smtp := c.SMTP
		host := smtp.Host
		if host == "" {
			host = "not set: email steps wait until it is (--smtp-host or MOMENTS_SMTP_HOST)"
		}
		port := ""
		if smtp.Port > 0 {
			port = strconv.Itoa(smtp.Port)
		}
		login := "none"
		if smtp.Username != "" {
			login = smtp.Username + " (password set: " + yesNo(smtp.Password != "") + ")"
		}
		tls := smtp.TLS
		if tls == "" {
			tls = "starttls"
		}
		d.SMTP = uiFacts("Host", host, "Port", port, "TLS", tls, "Login", login, "From", smtp.From)
		secret := "not set: webhooks are sent unsigned"
		if c.WebhookSecret != "" {
			secret = "set (Moments-Signature header on every webhook)"
		}
		attempts := ""
		if c.Webhook.MaxAttempts > 0 {
			attempts = strconv.Itoa(c.Webhook.MaxAttempts)
		}
		timeout := ""
		if c.Webhook.Timeout > 0 {
			timeout = c.Webhook.Timeout.String()
		}
		d.Webhooks = uiFacts("Signing secret", secret, "Attempts per step", attempts, "Timeout per attempt", timeout)
	}
	s.render(w, r, http.StatusOK, "settings_delivery", s.settingsView(r, "/settings/delivery", "Settings", d))
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
