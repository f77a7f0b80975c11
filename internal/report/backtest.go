package report

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/stats"
)

// FlaggedBeforeDays is how long before an outcome the backtest asks
// whether the account was already flagged: two months is the least a CSM
// needs to turn an account around before its renewal.
const FlaggedBeforeDays = 60

// MinOutcomes is the fewest positives and negatives an analysis of
// outcomes accepts: with fewer, every interval spans most of 0–1.
const MinOutcomes = 10

// ErrTooFewOutcomes means there are too few positives or negatives to
// analyse; the wrapped message says how many of each there are.
var ErrTooFewOutcomes = errors.New("too few outcomes")

// enoughOutcomes refuses an analysis with fewer than MinOutcomes
// positives or negatives, saying how many there are.
func enoughOutcomes(what string, positives, negatives int) error {
	if positives < MinOutcomes || negatives < MinOutcomes {
		return fmt.Errorf("%w: %d accounts with the outcome and %d without; %s needs at least %d of each",
			ErrTooFewOutcomes, positives, negatives, what, MinOutcomes)
	}
	return nil
}

// Scored is one account in a backtest: its outcome and its health as it
// stood Horizon before the outcome (negatives: before now), and, for a
// positive, as it stood FlaggedBeforeDays before the outcome.
type Scored struct {
	AccountID string
	Positive  bool
	// At is when the outcome first held (positives) or now (negatives).
	At    time.Time
	Score health.Result
	// Warnings are the exception reasons the account raised then, as kept
	// in the daily history: health's own and unanswered_surveys (which
	// health alone cannot raise: it comes from the surveys sent).
	Warnings []string
	// Early is the health FlaggedBeforeDays before At; nil when unknown.
	Early         *health.Result
	EarlyWarnings []string
}

// BacktestReasons are the exception reasons the backtest judges one by
// one, besides the at-risk quadrant.
var BacktestReasons = []string{ReasonLowHealth, ReasonDecliningUsage, ReasonSponsorLeft, ReasonUnansweredSurveys}

// reasonsOf lists the exception reasons a health result raised: its own
// warnings (health.Warnings) and those given.
func reasonsOf(r health.Result, warnings []string) []string {
	out := health.WarningCodesOf(r)
	for _, w := range warnings {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// Flagged says whether a health result puts the account in front of a
// CSM: in the at-risk quadrant, or raising a reason of the exception
// report (low health, declining usage, sponsor left, or, given in
// warnings, unanswered surveys).
func Flagged(r health.Result, warnings ...string) bool {
	return r.Quadrant == health.QuadrantAtRisk || len(reasonsOf(r, warnings)) > 0
}

// Rate is a share with its 95 % Wilson interval and its counts.
type Rate struct {
	Hits  int     `json:"hits"`
	Of    int     `json:"of"`
	Share float64 `json:"share"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

func rateOf(hits, n int) Rate {
	p := stats.Wilson(hits, n)
	r := Rate{Hits: hits, Of: n, Share: p.Share, Low: p.Low, High: p.High}
	if n == 0 {
		r.Share, r.Low, r.High = 0, 0, 0
	}
	return r
}

// PrecisionRecall judges a rule that flags accounts: of the accounts it
// flags, the share that had the outcome (precision); of the accounts that
// had the outcome, the share it flagged (recall).
type PrecisionRecall struct {
	Flagged   int  `json:"flagged"`
	Precision Rate `json:"precision"`
	Recall    Rate `json:"recall"`
}

// ReasonJudged is the precision and recall of one exception reason.
type ReasonJudged struct {
	Reason string `json:"reason"`
	PrecisionRecall
}

// Decile is a tenth of the accounts by score, lowest first.
type Decile struct {
	Decile   int     `json:"decile"`
	MinScore float64 `json:"min_score"`
	MaxScore float64 `json:"max_score"`
	Rate     Rate    `json:"rate"`
	// Lift is the decile's outcome rate over the rate of all accounts.
	Lift float64 `json:"lift"`
}

// Band is a band of the combined score in the calibration table.
type Band struct {
	From int  `json:"from"`
	To   int  `json:"to"`
	Rate Rate `json:"rate"`
}

// Backtest says how well the combined health score, as it stood before
// each outcome, separated the accounts that had it from those that did
// not.
type Backtest struct {
	Outcome string `json:"outcome"`
	// Horizon is how long before the outcome the score was read, in days.
	Horizon   int `json:"horizon_days"`
	Accounts  int `json:"accounts"`
	Positives int `json:"positives"`
	Negatives int `json:"negatives"`
	// Excluded counts the accounts where the outcome could not be
	// evaluated (a trait it reads is missing).
	Excluded int `json:"excluded"`
	// NotYet counts the accounts left out because they had sent no event
	// by the time they were to be scored (not yet customers then).
	NotYet int `json:"not_yet_customers"`
	// AUC is the chance that an account with the outcome had a lower score
	// than one without, with its 95 % interval.
	AUC     float64          `json:"auc"`
	AUCLow  float64          `json:"auc_low"`
	AUCHigh float64          `json:"auc_high"`
	ROC     []stats.ROCPoint `json:"roc"`
	// AtRisk judges the at-risk quadrant as a rule; Exceptions judges
	// being flagged (the at-risk quadrant or a health warning).
	AtRisk     PrecisionRecall `json:"at_risk"`
	Exceptions PrecisionRecall `json:"exceptions"`
	// Reasons judges each exception reason alone (BacktestReasons, in that
	// order).
	Reasons []ReasonJudged `json:"reasons"`
	// LowestDecileLift is the outcome rate of the tenth of accounts with
	// the lowest scores over the rate of all accounts.
	LowestDecileLift float64  `json:"lowest_decile_lift"`
	Deciles          []Decile `json:"deciles"`
	// FlaggedBefore is the share of positives flagged FlaggedBeforeDays
	// before their outcome.
	FlaggedBefore     Rate   `json:"flagged_before"`
	FlaggedBeforeDays int    `json:"flagged_before_days"`
	Calibration       []Band `json:"calibration"`
	Caveat            string `json:"caveat"`
}

// backtestCaveat is shown with every backtest.
const backtestCaveat = "Scores are read from the daily health history: as they stood at the start of each day, written as the day passed, or rebuilt from the events with today's health model for days before Moments kept them (imported history). Where the history has no day yet, the score is rebuilt from the events stored before that time. Success path progress counts the milestones reached by then."

// ComputeBacktest judges the scores. It refuses (ErrTooFewOutcomes) with
// fewer than MinOutcomes positives or negatives.
func ComputeBacktest(rows []Scored) (Backtest, error) {
	b := Backtest{Accounts: len(rows), FlaggedBeforeDays: FlaggedBeforeDays, Caveat: backtestCaveat}
	risk := make([]float64, len(rows))
	pos := make([]bool, len(rows))
	early, earlyHits := 0, 0
	var atRisk, flagged [2]int // [flagged, flagged and positive]
	byReason := make([][2]int, len(BacktestReasons))
	for i, r := range rows {
		risk[i] = 100 - r.Score.Combined.Score
		pos[i] = r.Positive
		if r.Positive {
			b.Positives++
			if r.Early != nil {
				early++
				if Flagged(*r.Early, r.EarlyWarnings...) {
					earlyHits++
				}
			}
		}
		hit := 0
		if r.Positive {
			hit = 1
		}
		if r.Score.Quadrant == health.QuadrantAtRisk {
			atRisk[0]++
			atRisk[1] += hit
		}
		reasons := reasonsOf(r.Score, r.Warnings)
		if r.Score.Quadrant == health.QuadrantAtRisk || len(reasons) > 0 { // Flagged
			flagged[0]++
			flagged[1] += hit
		}
		for _, code := range reasons {
			if k := slices.Index(BacktestReasons, code); k >= 0 {
				byReason[k][0]++
				byReason[k][1] += hit
			}
		}
	}
	b.Negatives = b.Accounts - b.Positives
	if err := enoughOutcomes("the backtest", b.Positives, b.Negatives); err != nil {
		return b, err
	}
	// The ROC curve (a sort of its own) is drawn on the other core.
	roc := make(chan []stats.ROCPoint, 1)
	go func() { roc <- stats.ROC(risk, pos) }()
	auc, err := stats.ComputeAUC(risk, pos)
	if err != nil {
		<-roc
		return b, err
	}
	b.AUC, b.AUCLow, b.AUCHigh = auc.Value, auc.Low, auc.High
	b.AtRisk = PrecisionRecall{Flagged: atRisk[0], Precision: rateOf(atRisk[1], atRisk[0]), Recall: rateOf(atRisk[1], b.Positives)}
	b.Exceptions = PrecisionRecall{Flagged: flagged[0], Precision: rateOf(flagged[1], flagged[0]), Recall: rateOf(flagged[1], b.Positives)}
	for k, code := range BacktestReasons {
		f := byReason[k]
		b.Reasons = append(b.Reasons, ReasonJudged{Reason: code, PrecisionRecall: PrecisionRecall{Flagged: f[0],
			Precision: rateOf(f[1], f[0]), Recall: rateOf(f[1], b.Positives)}})
	}
	b.FlaggedBefore = rateOf(earlyHits, early)

	// Deciles by score, lowest first; ties broken by account id so the
	// split is reproducible.
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	score := make([]float64, len(rows)) // 100 − risk, kept apart from the rows for the sort
	for i, r := range rows {
		score[i] = r.Score.Combined.Score
	}
	slices.SortFunc(idx, func(x, y int) int {
		if c := cmp.Compare(score[x], score[y]); c != 0 {
			return c
		}
		return cmp.Compare(rows[x].AccountID, rows[y].AccountID)
	})
	base := float64(b.Positives) / float64(b.Accounts)
	n := len(idx)
	for d := range 10 {
		lo, hi := d*n/10, (d+1)*n/10
		if hi <= lo {
			continue
		}
		hits := 0
		for _, i := range idx[lo:hi] {
			if rows[i].Positive {
				hits++
			}
		}
		rt := rateOf(hits, hi-lo)
		b.Deciles = append(b.Deciles, Decile{Decile: d + 1, MinScore: rows[idx[lo]].Score.Combined.Score,
			MaxScore: rows[idx[hi-1]].Score.Combined.Score, Rate: rt, Lift: rt.Share / base})
	}
	if len(b.Deciles) > 0 {
		b.LowestDecileLift = b.Deciles[0].Lift
	}

	for from := 0; from < 100; from += 20 {
		hits, of := 0, 0
		for i, s := range score {
			if s >= float64(from) && (s < float64(from+20) || (from == 80 && s <= 100)) {
				of++
				if rows[i].Positive {
					hits++
				}
			}
		}
		b.Calibration = append(b.Calibration, Band{From: from, To: from + 20, Rate: rateOf(hits, of)})
	}
	b.ROC = <-roc
	for i := range b.ROC {
		if math.IsInf(b.ROC[i].Threshold, 1) {
			b.ROC[i].Threshold = 101 // JSON has no infinity: above every risk
		}
	}
	return b, nil
}
