package notify

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
)

// Limits on email templates. They keep a mistaken or hostile journey map
// from building huge messages: a range over a large list can multiply a
// small template many times.
const (
	// MaxTemplateBytes is the largest subject or body template accepted.
	MaxTemplateBytes = 64 << 10
	// MaxSubjectBytes is the longest rendered subject; mail clients show
	// far less, and header lines must stay under 998 characters.
	MaxSubjectBytes = 900
	// MaxBodyBytes is the largest rendered body.
	MaxBodyBytes = 1 << 20
)

// errOutputTooLarge stops a template that writes past its limit.
var errOutputTooLarge = errors.New("output too large")

// templateFuncs are the helpers email templates may call beyond the
// text/template built-ins. "default" matters most: a contact without a
// first name should read "Hi there", not "Hi ".
var templateFuncs = template.FuncMap{
	"default": func(fallback string, value any) any {
		if v := reflect.ValueOf(value); !v.IsValid() || v.IsZero() {
			return fallback
		}
		return value
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
}

// CheckEmailTemplates parses both templates without rendering them, so a
// journey map with a broken template is refused when it is applied rather
// than when the first email is due.
func CheckEmailTemplates(subjectTmpl, bodyTmpl string) error {
	if _, err := parseEmailTemplate("subject", subjectTmpl); err != nil {
		return err
	}
	_, err := parseEmailTemplate("body", bodyTmpl)
	return err
}

// RenderEmail renders a subject and a plain-text body with Go text/template.
// A missing map key renders as empty text rather than failing or printing
// "<no value>", because account data is often incomplete. Stepping through a
// missing value (.account.traits.industry without traits), a field that does
// not exist on a struct, a syntax error or output past the size limits is an
// error that names the template and the line. The subject is folded to one
// line and trimmed.
func RenderEmail(subjectTmpl, bodyTmpl string, data any) (subject, body string, err error) {
	subject, err = render("subject", subjectTmpl, data, MaxSubjectBytes)
	if err != nil {
		return "", "", err
	}
	body, err = render("body", bodyTmpl, data, MaxBodyBytes)
	if err != nil {
		return "", "", err
	}
	return oneLine(subject), body, nil
}

func parseEmailTemplate(name, text string) (*template.Template, error) {
	if len(text) > MaxTemplateBytes {
		return nil, fmt.Errorf("email %s template is %d bytes, more than the limit of %d", name, len(text), MaxTemplateBytes)
	}
	t, err := template.New(name).Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("email %s template does not parse: %w", name, err)
	}
	return t, nil
}

func render(name, text string, data any, limit int) (string, error) {
	t, err := parseEmailTemplate(name, text)
	if err != nil {
		return "", err
	}
	w := &limitedBuffer{limit: limit}
	if err := t.Execute(w, data); err != nil {
		if errors.Is(err, errOutputTooLarge) {
			return "", fmt.Errorf("email %s is longer than the limit of %d bytes once rendered", name, limit)
		}
		if strings.Contains(err.Error(), "nil pointer evaluating") {
			// text/template cannot step through a missing value: say how to
			// write the template so that it can.
			return "", fmt.Errorf("email %s template cannot be rendered: %w (a value on that path is missing; guard it with {{with ...}}...{{end}})", name, err)
		}
		return "", fmt.Errorf("email %s template cannot be rendered: %w", name, err)
	}
	// With missingkey=zero a missing key of a map[string]any still prints
	// "<no value>" (the zero value of an interface); no customer should see it.
	return strings.ReplaceAll(w.buf.String(), "<no value>", ""), nil
}

// limitedBuffer fails the write that would take it past limit bytes, which
// stops the template at once instead of after it has built everything.
type limitedBuffer struct {
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.limit {
		return 0, errOutputTooLarge
	}
	return b.buf.Write(p)
}
