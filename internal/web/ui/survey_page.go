package ui

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/survey"
	"github.com/moments-cs/moments/internal/web"
)

// maxAnswerBody bounds the answer form: a comment of survey.MaxCommentBytes
// and the other fields, URL-encoded.
const maxAnswerBody = 64 << 10

// answerView is what the answer page shows.
type answerView struct {
	Title    string
	Status   int
	Message  string
	Page     survey.Page
	Scores   []int
	Chosen   int
	HasScore bool
	Thanks   bool
	Error    string
	Field    string
	Comment  string
	Action   string
}

// answerPage is the public survey page: plain HTML that works without
// JavaScript, labelled controls in a fieldset, a visible focus ring, text
// contrast above 7:1, and a layout that fits a 375 px screen.
var answerPage = template.Must(template.New("answer").Parse(`<!doctype html>
<html lang="{{if .Page.Texts.Language}}{{.Page.Texts.Language}}{{else}}en{{end}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>
body{margin:0;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#111;background:#fff}
main{max-width:40rem;margin:0 auto;padding:1.5rem 1rem}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 1rem}
fieldset{border:0;margin:0 0 1.25rem;padding:0}
legend{font-weight:600;margin-bottom:.5rem;padding:0}
.scale{display:flex;flex-wrap:wrap;gap:.35rem}
.scale label{position:relative}
.scale input{position:absolute;opacity:0;width:2.75rem;height:2.75rem;margin:0}
.scale span{display:inline-flex;align-items:center;justify-content:center;min-width:2.75rem;height:2.75rem;border:2px solid #1f4e8c;border-radius:.4rem;color:#1f4e8c;font-weight:700;cursor:pointer}
.scale input:checked+span{background:#1f4e8c;color:#fff}
.scale input:focus-visible+span,button:focus-visible,textarea:focus-visible{outline:3px solid #b35900;outline-offset:2px}
.ends{display:flex;justify-content:space-between;font-size:.9rem;color:#333;margin-top:.35rem}
label.q{display:block;font-weight:600;margin-bottom:.4rem}
textarea{box-sizing:border-box;width:100%;min-height:7rem;font:inherit;padding:.5rem;border:2px solid #555;border-radius:.4rem}
button{font:inherit;font-weight:700;background:#1f4e8c;color:#fff;border:0;border-radius:.4rem;padding:.7rem 1.4rem;margin-top:1rem;cursor:pointer}
.note{background:#eef4fb;border-left:4px solid #1f4e8c;padding:.6rem .8rem;margin:0 0 1rem}
.error{background:#fdecea;border-left:4px solid #a4000f;padding:.6rem .8rem;margin:0 0 1rem;color:#5c0008}
</style>
</head>
<body>
<main>
{{if .Message}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{else if .Thanks}}
<h1>Thank you</h1>
<p>Your answer is recorded{{if .Page.Send.Comment}}, with your comment{{end}}.</p>
{{if .Page.Kept}}<p class="note">Your first score ({{.Chosen}}) was kept: a score cannot be changed once given.</p>{{end}}
<p>You can still add to or replace your comment below.</p>
<form method="post" action="{{.Action}}">
<label class="q" for="comment">{{.Page.Texts.FollowUp}}</label>
<textarea id="comment" name="comment" maxlength="4000">{{.Page.Send.Comment}}</textarea>
<button type="submit">Update my comment</button>
</form>
{{else}}
<h1 id="question">{{.Page.Texts.Question}}</h1>
{{if .HasScore}}<p class="note" role="status">Thank you — your score of {{.Chosen}} is recorded. Tell us more below if you like.</p>{{end}}
{{if .Error}}<p class="error" role="alert" id="form-error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="survey" value="{{.Page.Send.SurveyID}}">
<fieldset{{if eq .Field "score"}} aria-describedby="form-error"{{end}}>
<legend>Your score, from {{.Page.Scale.Low}} ({{.Page.Scale.LowLabel}}) to {{.Page.Scale.High}} ({{.Page.Scale.HighLabel}})</legend>
<div class="scale">
{{range .Scores}}<label><input type="radio" name="score" value="{{.}}"{{if and $.HasScore (eq . $.Chosen)}} checked{{end}}{{if and $.HasScore (ne . $.Chosen)}} disabled{{end}}><span>{{.}}</span></label>
{{end}}</div>
<div class="ends" aria-hidden="true"><span>{{.Page.Scale.LowLabel}}</span><span>{{.Page.Scale.HighLabel}}</span></div>
</fieldset>
<label class="q" for="comment">{{.Page.Texts.FollowUp}} <span style="font-weight:400">(optional)</span></label>
<textarea id="comment" name="comment" maxlength="4000">{{.Comment}}</textarea>
<button type="submit">Send my answer</button>
</form>
{{end}}
</main>
</body>
</html>
`))

// surveyPageRoutes registers the public answer page: no session, the
// link's token is the credential.
func (s *Server) surveyPageRoutes(rt *web.Router) {
	rt.Handle("GET /s/{token}", s.surveyAnswerPage)
	rt.Handle("POST /s/{token}", s.surveyAnswerSubmit)
}

// surveyPageHeaders keep the page's personal link to itself: no referrer
// carries the token to another site, no cache keeps the page, no frame
// shows it, and no script runs.
func surveyPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

func (s *Server) renderAnswer(w http.ResponseWriter, r *http.Request, v answerView) {
	surveyPageHeaders(w)
	if v.Status == 0 {
		v.Status = http.StatusOK
	}
	if v.Title == "" {
		v.Title = v.Page.Texts.Question
	}
	v.Action = "/s/" + r.PathValue("token")
	v.Scores = v.Page.Scale.Scores()
	if v.Page.Send.Score != nil {
		v.HasScore, v.Chosen = true, *v.Page.Send.Score
	}
	w.WriteHeader(v.Status)
	if err := answerPage.Execute(w, v); err != nil {
		s.Logger.ErrorContext(r.Context(), "render survey page", "err", err)
	}
}

// answerFailure renders a refused link or a failure as a friendly page:
// 404 for a link that is not valid, 410 for one that expired or was
// replaced, 400 for a bad form (the page again, with the message), 503
// without the survey service, 500 otherwise.
func (s *Server) answerFailure(w http.ResponseWriter, r *http.Request, p survey.Page, f survey.Form, err error) {
	var fe *survey.FieldError
	switch {
	case errors.Is(err, survey.ErrUnknownLink):
		s.renderAnswer(w, r, answerView{Status: http.StatusNotFound, Title: "This survey link is not valid",
			Message: "We could not find a survey for this link. Please check that you opened the whole link from the email; if it still does not work, the survey may have been removed. Nothing was recorded."})
	case errors.Is(err, survey.ErrExpiredLink):
		msg := "This survey has closed, so answers are no longer recorded. Thank you for opening it."
		if strings.Contains(err.Error(), "replaced") {
			msg = "This survey was replaced by a newer one we sent you; please answer that one instead. Nothing was recorded here."
		}
		s.renderAnswer(w, r, answerView{Status: http.StatusGone, Title: "This survey has closed", Message: msg})
	case errors.As(err, &fe):
		s.renderAnswer(w, r, answerView{Status: http.StatusBadRequest, Page: p, Error: fe.Message, Field: fe.Field, Comment: f.Comment})
	default:
		id := web.ErrorID()
		s.Logger.ErrorContext(r.Context(), "survey page failed", "error_id", id, "err", err)
		s.renderAnswer(w, r, answerView{Status: http.StatusInternalServerError, Title: "Something went wrong",
			Message: "Your answer could not be recorded just now. Please try the link again in a few minutes. (Error " + id + ")"})
	}
}

func (s *Server) surveysMissing(w http.ResponseWriter, r *http.Request) bool {
	if s.Surveys != nil {
		return false
	}
	s.renderAnswer(w, r, answerView{Status: http.StatusServiceUnavailable, Title: "Surveys are not available",
		Message: "This server is not taking survey answers right now. Please try the link again later."})
	return true
}

// surveyAnswerPage shows the survey behind a link; ?score=N (a score link
// in the email) records that score first.
func (s *Server) surveyAnswerPage(w http.ResponseWriter, r *http.Request) {
	if s.surveysMissing(w, r) {
		return
	}
	var score *int
	if v := r.URL.Query().Get("score"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || len(v) > 3 {
			n = -1
		}
		score = &n
	}
	p, err := s.Surveys.Open(r.Context(), r.PathValue("token"), score)
	if err != nil {
		s.answerFailure(w, r, p, survey.Form{}, err)
		return
	}
	s.renderAnswer(w, r, answerView{Page: p})
}

// surveyAnswerSubmit records the form: the score (if none is recorded
// yet) and the comment, then thanks.
func (s *Server) surveyAnswerSubmit(w http.ResponseWriter, r *http.Request) {
	if s.surveysMissing(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAnswerBody)
	if err := r.ParseForm(); err != nil {
		s.answerFailure(w, r, survey.Page{}, survey.Form{}, &survey.FieldError{Field: "comment", Message: "the answer is too long to record; please shorten your comment"})
		return
	}
	f, err := survey.DecodeForm(r.PostForm)
	var p survey.Page
	if err == nil {
		p, err = s.Surveys.Submit(r.Context(), r.PathValue("token"), f)
	} else if pp, perr := s.Surveys.Open(r.Context(), r.PathValue("token"), nil); perr != nil {
		err = perr
	} else {
		p = pp
	}
	if err != nil {
		s.answerFailure(w, r, p, f, err)
		return
	}
	s.renderAnswer(w, r, answerView{Page: p, Thanks: true, Title: "Thank you"})
}
