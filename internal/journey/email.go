package journey

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// EmailData is what an email template sees: {{.Contact.first_name}},
// {{.Account.name}}, {{.CSM.name}} and {{.Moment.name}}. The maps hold
// traits as they arrived, so any trait can be used. Survey links are not
// among them: a survey goes out in its own email from a survey step, which
// keeps the fatigue budget (see checkTemplate).
type EmailData struct {
	Account map[string]any
	Contact map[string]any
	// CSM is the account's owner: email and name.
	CSM map[string]any
	// Moment is the moment whose playbook sends the email: id and name.
	Moment map[string]any
}

var emailFields = []string{"Account", "Contact", "CSM", "Moment"}

// EmailFuncs returns the functions email templates may call, beyond Go's
// built-in ones:
//
//	default "there" .Contact.first_name   the value, or the fallback when it is empty
//	upper .Account.name, lower …          change case
//	date "2 January 2006" .Account.renewal_date   format a date (2006-01-02 or RFC 3339 text, or a time)
//
// The sender must parse templates with the same functions the linter does.
func EmailFuncs() template.FuncMap {
	return template.FuncMap{
		"default": func(fallback, v any) any {
			if v == nil || v == "" {
				return fallback
			}
			return v
		},
		"upper": func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
		"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
		"date": func(layout string, v any) string {
			switch t := v.(type) {
			case time.Time:
				return t.Format(layout)
			case string:
				for _, l := range []string{"2006-01-02", time.RFC3339Nano} {
					if parsed, err := time.Parse(l, t); err == nil {
						return parsed.Format(layout)
					}
				}
				return t
			case nil:
				return ""
			}
			return fmt.Sprint(v)
		},
	}
}

// ParseEmailTemplate parses one email subject or body as the sender will,
// with missing keys rendering as empty text rather than "<no value>".
func ParseEmailTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(EmailFuncs()).Option("missingkey=zero").Parse(text)
}

var templateErr = regexp.MustCompile(`^template: [^:]*:(\d+):(?:(\d+):)? ?(.*)$`)

// templateProblem is a problem in a template at a 1-based line within it.
type templateProblem struct {
	line int
	msg  string
}

// checkTemplate parses an email template and checks that it refers only to
// the fields EmailData has.
func checkTemplate(name, text string) []templateProblem {
	t, err := ParseEmailTemplate(name, text)
	if err != nil {
		msg, line := err.Error(), 1
		if m := templateErr.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[3]
		}
		return []templateProblem{{line: line, msg: "template does not parse: " + msg}}
	}
	var problems []templateProblem
	lineOf := func(pos parse.Pos) int { return 1 + strings.Count(text[:min(int(pos), len(text))], "\n") }
	var walk func(n parse.Node, top bool)
	walk = func(n parse.Node, top bool) {
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				walk(c, top)
			}
		case *parse.ActionNode:
			walk(x.Pipe, top)
		case *parse.PipeNode:
			if x == nil {
				return
			}
			for _, c := range x.Cmds {
				walk(c, top)
			}
		case *parse.CommandNode:
			for _, a := range x.Args {
				walk(a, top)
			}
		case *parse.IfNode:
			walk(x.Pipe, top)
			walk(x.List, top)
			walk(x.ElseList, top)
		case *parse.RangeNode:
			// Inside range and with, dot is the element, not EmailData.
			walk(x.Pipe, top)
			walk(x.List, false)
			walk(x.ElseList, top)
		case *parse.WithNode:
			walk(x.Pipe, top)
			walk(x.List, false)
			walk(x.ElseList, top)
		case *parse.FieldNode:
			if top && len(x.Ident) > 0 && x.Ident[0] == "Surveys" {
				problems = append(problems, templateProblem{line: lineOf(x.Pos), msg: "template uses .Surveys, " +
					"but survey links are not put inside other emails: send the survey with a step of kind survey, " +
					"whose email carries one link per score and keeps the fatigue budget"})
			} else if top && len(x.Ident) > 0 && !slices.Contains(emailFields, x.Ident[0]) {
				problems = append(problems, templateProblem{line: lineOf(x.Pos), msg: fmt.Sprintf(
					"template uses .%s, which emails do not have%s", x.Ident[0], dotHint(x.Ident[0]))})
			}
		}
	}
	walk(t.Root, true)
	return problems
}

func dotHint(got string) string {
	if s := suggest(got, emailFields); s != "" {
		return fmt.Sprintf("; did you mean .%s?", s)
	}
	return "; use .Account, .Contact, .CSM or .Moment"
}
