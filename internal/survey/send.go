package survey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
)

// Recipients a survey's "to" accepts, besides an email address: those of
// an email step. A survey goes only to contacts of the account: "csm" and
// an address reach the account's contact with that email, if there is one.
const (
	ToContact = "contact"
	ToAll     = "all"
	ToCSM     = "csm"
)

// Request is one survey to send: from a playbook step, or by hand.
type Request struct {
	// Survey is the id of one of the map's surveys.
	Survey    string
	AccountID string
	// ContactID, when set, is the one contact to survey; otherwise To
	// chooses (a role, "all", "csm" or an address; default the run's
	// contact).
	ContactID string
	To        string
	// MomentID, RunID and StepIndex bind the links to one moment run;
	// by hand, MomentID is optional and RunID empty.
	MomentID  string
	RunID     string
	StepIndex int
	// Map and MapVersion are the map the survey comes from; nil means the
	// live map.
	Map        *journey.Map
	MapVersion int
	// Now is when the send happens (the playbook engine's clock); zero
	// means the service's clock.
	Now time.Time
}

// ErrNoEmail is the failure of a send without SMTP; a survey step is
// retried.
var ErrNoEmail = errors.New("email is not configured, so no survey was sent: set the SMTP server (MOMENTS_SMTP_HOST, MOMENTS_SMTP_FROM, …) and restart Moments")

// ErrNoPublicURL is the failure of a send without a public address for its
// links.
var ErrNoPublicURL = errors.New("surveys need the address people reach Moments at: set --public-url or MOMENTS_PUBLIC_URL")

// Send sends the survey to each recipient the request names, within the
// fatigue budget, and returns one record per recipient: sent, or skipped
// with the reason. Sending is idempotent per run, step and contact: a
// repeat returns what was recorded.
func (s *Service) Send(ctx context.Context, r Request) ([]store.SurveySend, error) {
	now := r.Now
	if now.IsZero() {
		now = s.now()
	}
	m := r.Map
	if m == nil {
		var err error
		if m, r.MapVersion, err = s.journey.Get(ctx); err != nil {
			return nil, err
		}
	}
	sv, err := findSurvey(m, r.Survey)
	if err != nil {
		return nil, err
	}
	rules, err := RulesOf(m.SurveyRules)
	if err != nil {
		return nil, err
	}
	if r.MomentID != "" && !hasMoment(m, r.MomentID) {
		return nil, &FieldError{Field: "moment", Message: fmt.Sprintf("moment %q is not in the journey map", r.MomentID)}
	}
	a, err := s.st.Account(ctx, r.AccountID)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", r.AccountID, err)
	}
	contacts, err := s.recipients(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []store.SurveySend
	for _, c := range contacts {
		x, err := s.sendOne(ctx, r, m, sv, rules, a, c, now)
		if err != nil {
			return out, err
		}
		out = append(out, x)
	}
	return out, nil
}

func hasMoment(m *journey.Map, id string) bool {
	for _, mo := range m.Moments {
		if mo.ID == id {
			return true
		}
	}
	return false
}

// recipients resolves who a request surveys: contacts of the account with
// an email address.
func (s *Service) recipients(ctx context.Context, r Request) ([]store.Contact, error) {
	if r.ContactID != "" {
		c, err := s.st.Contact(ctx, r.ContactID)
		if err != nil {
			return nil, fmt.Errorf("contact %q: %w", r.ContactID, err)
		}
		if c.AccountID != r.AccountID {
			return nil, &FieldError{Field: "contact", Message: fmt.Sprintf("contact %q is not a contact of account %q", r.ContactID, r.AccountID)}
		}
		return withEmail([]store.Contact{c}), nil
	}
	all, err := s.st.AccountContacts(ctx, r.AccountID)
	if err != nil {
		return nil, err
	}
	to := r.To
	var want string
	switch to {
	case "", ToContact:
		return nil, nil
	case ToCSM:
		a, err := s.st.Account(ctx, r.AccountID)
		if err != nil {
			return nil, err
		}
		want = a.Owner
	}
	if _, err := mail.ParseAddress(to); err == nil && strings.Contains(to, "@") {
		want = to
	}
	var out []store.Contact
	for _, c := range all {
		if to == ToAll || strings.EqualFold(c.Role, to) || (want != "" && strings.EqualFold(c.Email, want)) {
			out = append(out, c)
		}
	}
	return withEmail(out), nil
}

func withEmail(cs []store.Contact) []store.Contact {
	out := cs[:0:0]
	for _, c := range cs {
		if c.Email != "" {
			out = append(out, c)
		}
	}
	return out
}

// name is how a person is named in reasons and emails.
func name(c store.Contact) string {
	for _, k := range []string{"first_name", "name"} {
		if v, ok := c.Traits[k].(string); ok && v != "" {
			return v
		}
	}
	if c.Email != "" {
		return c.Email
	}
	return c.ID
}

func accountName(a store.Account) string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

func language(c store.Contact) string {
	for _, k := range []string{"language", "locale"} {
		if v, ok := c.Traits[k].(string); ok && v != "" {
			return strings.ToLower(strings.ReplaceAll(v, "_", "-"))
		}
	}
	return ""
}

func (s *Service) sendOne(ctx context.Context, r Request, m *journey.Map, sv journey.Survey, rules Rules,
	a store.Account, c store.Contact, now time.Time) (store.SurveySend, error) {
	key := "survey:manual:" + uuid.NewString()
	if r.RunID != "" {
		key = fmt.Sprintf("survey:%s:%d:%s", r.RunID, r.StepIndex, c.ID)
	}
	token, hash, err := NewToken()
	if err != nil {
		return store.SurveySend{}, err
	}
	exp := rules.LinkExpires.AddTo(now)
	x := store.SurveySend{ID: uuid.NewString(), Key: key, TokenHash: hash, SurveyID: sv.ID, Kind: sv.Kind,
		AccountID: a.ID, ContactID: c.ID, Email: c.Email, Role: c.Role, Language: language(c), MomentID: r.MomentID,
		RunID: r.RunID, StepIndex: r.StepIndex, MapVersion: r.MapVersion, CreatedAt: now, ExpiresAt: &exp}
	cand := candidate{Kind: sv.Kind, ContactName: name(c), AccountName: accountName(a)}
	x, existing, err := s.st.ReserveSurveySend(ctx, x, since(rules.ContactEvery, now), since(rules.AccountEvery, now),
		func(h store.SurveyHistory) store.SurveyDecision { return rules.decide(cand, h, now) })
	if err != nil || existing || x.Status == store.SurveySkipped {
		return x, err
	}
	if s.mailer == nil || s.cfg.PublicURL == "" {
		cause := ErrNoEmail
		if s.mailer != nil {
			cause = ErrNoPublicURL
		}
		return x, errors.Join(cause, s.st.FinishSurveySend(ctx, x.ID, store.SurveyFailed, cause.Error(), now))
	}
	msg, err := s.email(sv, a, c, token, x, false)
	if err != nil {
		return x, err
	}
	if _, err := s.mailer.Send(ctx, msg); err != nil {
		return x, errors.Join(err, s.st.FinishSurveySend(ctx, x.ID, store.SurveyFailed, err.Error(), now))
	}
	if err := s.st.FinishSurveySend(ctx, x.ID, store.SurveySent, "", now); err != nil {
		return x, err
	}
	x.Status, x.SentAt = store.SurveySent, &now
	return x, nil
}

// remind sends the one reminder of an unanswered survey, with a new link
// (the first one keeps working). It counts against no budget.
func (s *Service) remind(ctx context.Context, m *journey.Map, x store.SurveySend) error {
	if s.mailer == nil || s.cfg.PublicURL == "" {
		return nil
	}
	sv, err := findSurvey(m, x.SurveyID)
	if err != nil {
		// The survey left the map: no reminder for a survey nobody runs.
		return nil
	}
	token, hash, err := NewToken()
	if err != nil {
		return err
	}
	ok, err := s.st.ClaimSurveyReminder(ctx, x.ID, hash, s.now())
	if err != nil || !ok {
		return err
	}
	a, err := s.st.Account(ctx, x.AccountID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c, err := s.st.Contact(ctx, x.ContactID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if c.Email == "" {
		c.Email = x.Email
	}
	msg, err := s.email(sv, a, c, token, x, true)
	if err != nil {
		return err
	}
	if _, err := s.mailer.Send(ctx, msg); err != nil {
		s.log.Warn("survey reminder not sent; it is not tried again", "send", x.ID, "err", err)
	}
	return nil
}

// Link is the answer page's address for a token, with a score chosen
// when score ≥ 0.
func (s *Service) Link(token string, score int) string {
	u := s.cfg.PublicURL + "/s/" + token
	if score >= 0 {
		u += "?score=" + strconv.Itoa(score)
	}
	return u
}

// emailView is what the survey email's templates see.
type emailView struct {
	Greeting  string
	Question  string
	Low, High string
	Scores    []scoreLink
	Link      string
	Expires   string
	Reminder  bool
}

type scoreLink struct {
	Score int
	URL   string
}

var emailHTML = template.Must(template.New("survey").Parse(`<!doctype html>
<html lang="en"><body style="font-family:Arial,Helvetica,sans-serif;color:#1a1a1a;font-size:16px;line-height:1.5">
<p>{{.Greeting}}</p>
{{if .Reminder}}<p>A few days ago we asked you one question. If you have a moment, we would still value your answer.</p>{{end}}
<p><strong>{{.Question}}</strong></p>
<table role="presentation" cellspacing="0" cellpadding="0"><tr>
{{range .Scores}}<td style="padding:2px"><a href="{{.URL}}" style="display:inline-block;min-width:32px;padding:8px 4px;text-align:center;border:1px solid #1f4e8c;border-radius:4px;color:#1f4e8c;text-decoration:none;font-weight:bold" aria-label="Score {{.Score}}">{{.Score}}</a></td>
{{end}}</tr></table>
<p style="font-size:14px;color:#4a4a4a">{{.Low}} … {{.High}}</p>
<p>Choosing a number records your answer; a page then opens where you can tell us more. The link is personal to you and works until {{.Expires}}.</p>
</body></html>
`))

// email builds the survey's email for one contact.
func (s *Service) email(sv journey.Survey, a store.Account, c store.Contact, token string,
	x store.SurveySend, reminder bool) (notify.Email, error) {
	texts := TextsFor(sv, language(c))
	sc, _ := ScaleOf(sv.Kind)
	v := emailView{Greeting: "Hi " + name(c) + ",", Question: texts.Question, Low: fmt.Sprintf("%d = %s", sc.Low, sc.LowLabel),
		High: fmt.Sprintf("%d = %s", sc.High, sc.HighLabel), Link: s.Link(token, -1), Reminder: reminder}
	if x.ExpiresAt != nil {
		v.Expires = x.ExpiresAt.Format("2 January 2006")
	}
	var text strings.Builder
	fmt.Fprintf(&text, "%s\n\n", v.Greeting)
	if reminder {
		text.WriteString("A few days ago we asked you one question. If you have a moment, we would still value your answer.\n\n")
	}
	fmt.Fprintf(&text, "%s\n(%s, %s)\n\n", texts.Question, v.Low, v.High)
	for _, n := range sc.Scores() {
		l := scoreLink{Score: n, URL: s.Link(token, n)}
		v.Scores = append(v.Scores, l)
		fmt.Fprintf(&text, "%2d: %s\n", n, l.URL)
	}
	fmt.Fprintf(&text, "\nChoosing a number records your answer; a page then opens where you can tell us more.\nThe link is personal to you and works until %s.\n", v.Expires)
	var html strings.Builder
	if err := emailHTML.Execute(&html, v); err != nil {
		return notify.Email{}, err
	}
	subject := texts.Question
	if reminder {
		subject = "Reminder: " + subject
	}
	id := sha256.Sum256([]byte(x.Key))
	msgID := "survey-" + hex.EncodeToString(id[:10])
	if reminder {
		msgID += "-reminder"
	}
	e := notify.Email{To: notify.Address{Name: name(c), Email: c.Email}, Subject: subject, Text: text.String(), HTML: html.String(),
		MessageID: msgID, Headers: map[string]string{"X-Moments-Survey": sv.ID}}
	if x.RunID != "" {
		e.Headers["X-Moments-Run"] = x.RunID
	}
	if mail, err := mail.ParseAddress(a.Owner); err == nil && mail.Address == a.Owner {
		e.ReplyTo = notify.Address{Email: a.Owner}
	}
	return e, nil
}
