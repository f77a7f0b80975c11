package demo

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxPendingSurveys bounds the survey emails waiting for an answer.
const maxPendingSurveys = 4096

// surveyEmail is a survey the sink received: its answer page and its
// scale.
type surveyEmail struct {
	Link      string
	Low, High int
}

var surveyLinkRE = regexp.MustCompile(`(https?://[^\s"<>]+/s/[A-Za-z0-9_-]+)\?score=(\d+)`)

// parseSurveyEmail finds the score links of a survey email (Moments puts
// one per score in its text part).
func parseSurveyEmail(raw []byte) (surveyEmail, bool) {
	// Undo quoted-printable soft line breaks and "=" escapes enough to
	// read the links.
	text := bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("=\r\n"), nil), []byte("=3D"), []byte("="))
	var e surveyEmail
	e.Low = -1
	for _, m := range surveyLinkRE.FindAllSubmatch(text, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		if e.Low < 0 || n < e.Low {
			e.Low = n
		}
		e.High = max(e.High, n)
		e.Link = string(m[1])
	}
	return e, e.Link != "" && e.High > e.Low
}

// AnswerOptions tune how the demo's customers answer surveys.
type AnswerOptions struct {
	// Rate is the share of surveys answered (default 0.55).
	Rate float64
	// Every is the pause between two answers (default 200 ms).
	Every time.Duration
	// Client makes the requests; default one with a 10 s timeout.
	Client *http.Client
	// Seed makes the answers reproducible in tests; zero picks one.
	Seed uint64
}

// comments are what the demo's customers write, by how they felt.
var comments = map[bool][]string{
	true: {"The team was quick and knew our setup.", "Clear next steps, thank you.",
		"Dashboards are exactly what our managers needed.", ""},
	false: {"Took too long to hear back.", "The kickoff started late and felt rushed.",
		"Single sign-on setup was confusing.", "Exports keep failing on large reports."},
}

// AnswerSurveys answers the survey emails the sinks receive as the demo's
// customers would, through Moments' own answer page: most click a score
// in the email (which records it), about half of those add a comment on
// the page, and the rest never answer — so the reports show response
// rates, comments and, through the low answers, service recovery. It runs
// until ctx ends.
func (s *Sinks) AnswerSurveys(ctx context.Context, o AnswerOptions) {
	if o.Rate == 0 {
		o.Rate = 0.55
	}
	if o.Every <= 0 {
		o.Every = 200 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	seed := o.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	for {
		var e surveyEmail
		select {
		case <-ctx.Done():
			return
		case e = <-s.surveys:
		}
		if rng.Float64() >= o.Rate {
			continue
		}
		answer(ctx, o.Client, rng, e)
		select {
		case <-ctx.Done():
			return
		case <-time.After(o.Every):
		}
	}
}

// answer clicks a score and maybe writes a comment. Errors are ignored:
// a customer whose click fails simply does not answer.
func answer(ctx context.Context, c *http.Client, rng *rand.Rand, e surveyEmail) {
	// Three in four are happy (the top of the scale), one in four not.
	happy := rng.Float64() < 0.75
	span := e.High - e.Low
	score := e.Low + rng.IntN(span/2+1)
	if happy {
		score = e.High - rng.IntN(span/4+1)
	}
	get := func(u string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err == nil {
			if res, err := c.Do(req); err == nil {
				res.Body.Close()
			}
		}
	}
	get(e.Link + "?score=" + strconv.Itoa(score))
	if rng.Float64() < 0.5 {
		return
	}
	text := comments[happy][rng.IntN(len(comments[happy]))]
	if text == "" {
		return
	}
	form := url.Values{"score": {strconv.Itoa(score)}, "comment": {text}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Link, strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
	}
}
