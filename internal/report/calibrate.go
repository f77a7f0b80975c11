package report

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"

	"github.com/goccy/go-yaml"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
)

// Settings of calibration.
const (
	// CalibrationFolds is the number of cross-validation folds: each
	// account is held out of exactly one fit.
	CalibrationFolds = 5
	// CalibrationPenalty is the ridge penalty on standardised components:
	// enough to keep a few hundred outcomes from chasing noise.
	CalibrationPenalty = 0.05
)

// calibrated lists the components calibration weighs, in the order of the
// health model's weights.
var calibrated = []string{
	health.ComponentRecency, health.ComponentFrequency, health.ComponentBreadth, health.ComponentDepth,
	health.ComponentProgress, health.ComponentIntensity, health.ComponentTrend, health.ComponentRelationship,
	health.ComponentSupportLoad, health.ComponentNPS, health.ComponentCSAT, health.ComponentCES, health.ComponentSupport,
}

// CalibratedComponents lists the components calibration weighs, the
// behavioural ones first, in the order of the health model's weights.
func CalibratedComponents() []string { return slices.Clone(calibrated) }

// Calibration proposes component weights fitted to an installation's own
// outcomes. Nothing changes until someone applies Section to the map.
type Calibration struct {
	Outcome   string `json:"outcome"`
	Horizon   int    `json:"horizon_days"`
	Accounts  int    `json:"accounts"`
	Positives int    `json:"positives"`
	Excluded  int    `json:"excluded"`
	NotYet    int    `json:"not_yet_customers"`
	Folds     int    `json:"folds"`
	// HoldoutAUC is the AUC of the proposed weights on accounts held out
	// of the fit that proposed them; DefaultAUC is the AUC of the current
	// weights on the same accounts.
	HoldoutAUC float64 `json:"holdout_auc"`
	DefaultAUC float64 `json:"default_auc"`
	// Weights are the proposed weights (behavioural and emotional, each
	// group summing to 100) and Combined the behavioural share.
	Weights  map[string]float64 `json:"weights"`
	Current  map[string]float64 `json:"current"`
	Combined float64            `json:"combined"`
	// Section is the map's health section with the proposed weights,
	// ready to paste into the journey map and apply.
	Section string `json:"section"`
	Note    string `json:"note"`
}

// Calibrate fits the component weights to the outcomes: a ridge logistic
// regression of the outcome on the components (0–1, unknown values set to
// the component's mean), cross-validated over CalibrationFolds folds.
// The fitted coefficients become weights: a component whose higher values
// go with more outcomes gets weight 0, since a weight cannot be negative.
// It refuses (ErrTooFewOutcomes) with fewer than MinOutcomes of either.
func Calibrate(rows []Scored, model journey.HealthModel) (Calibration, error) {
	c := Calibration{Accounts: len(rows), Folds: CalibrationFolds, Current: weightsOf(model)}
	for _, r := range rows {
		if r.Positive {
			c.Positives++
		}
	}
	if err := enoughOutcomes("calibration", c.Positives, c.Accounts-c.Positives); err != nil {
		return c, err
	}
	x, y := design(rows)

	// Stratified folds by a hash of the account id, so that a rerun on the
	// same data gives the same answer.
	fold := make([]int, len(rows))
	var k [2]int
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(idHash(rows[a].AccountID), idHash(rows[b].AccountID)); c != 0 {
			return c
		}
		return cmp.Compare(rows[a].AccountID, rows[b].AccountID)
	})
	for _, i := range order {
		cls := 0
		if y[i] {
			cls = 1
		}
		fold[i] = k[cls] % CalibrationFolds
		k[cls]++
	}
	held := make([]float64, len(rows))
	def := make([]float64, len(rows))
	for f := range CalibrationFolds {
		var tx [][]float64
		var ty []bool
		for i := range rows {
			if fold[i] != f {
				tx = append(tx, x[i])
				ty = append(ty, y[i])
			}
		}
		m, err := fitWeights(tx, ty, model)
		if err != nil {
			return c, err
		}
		for i, r := range rows {
			if fold[i] == f {
				held[i] = 100 - health.Reweigh(r.Score, m).Score
				def[i] = 100 - r.Score.Combined.Score
			}
		}
	}
	ha, err := stats.ComputeAUC(held, y)
	if err != nil {
		return c, err
	}
	da, err := stats.ComputeAUC(def, y)
	if err != nil {
		return c, err
	}
	c.HoldoutAUC, c.DefaultAUC = ha.Value, da.Value

	final, err := fitWeights(x, y, model)
	if err != nil {
		return c, err
	}
	c.Weights = weightsOf(final)
	c.Combined = final.Combined
	section, err := yaml.MarshalWithOptions(map[string]any{"health": map[string]any{
		"behavioural": map[string]any{"weights": final.Behavioural.Weights},
		"emotional":   map[string]any{"weights": final.Emotional.Weights},
		"combined":    final.Combined,
	}}, yaml.Indent(2))
	if err != nil {
		return c, err
	}
	c.Section = string(section)
	c.Note = "Nothing changes until the map is applied with these weights (moments map apply), so the map's version history shows who changed the model and why."
	if c.HoldoutAUC < c.DefaultAUC {
		c.Note = "The fitted weights did no better than the current ones on held-out accounts: keep the current weights. " + c.Note
	}
	return c, nil
}

// design turns each account's components into a row of 0–1 values; an
// unknown value takes the component's mean over the accounts where it is
// known (0.5 when it is known nowhere).
func design(rows []Scored) ([][]float64, []bool) {
	sum := make([]float64, len(calibrated))
	n := make([]int, len(calibrated))
	for _, r := range rows {
		for j, name := range calibrated {
			if comp, ok := r.Score.Component(name); ok && comp.Value.Known {
				sum[j] += comp.Value.Score / 100
				n[j]++
			}
		}
	}
	x := make([][]float64, len(rows))
	y := make([]bool, len(rows))
	for i, r := range rows {
		x[i] = make([]float64, len(calibrated))
		for j, name := range calibrated {
			x[i][j] = 0.5
			if n[j] > 0 {
				x[i][j] = sum[j] / float64(n[j])
			}
			if comp, ok := r.Score.Component(name); ok && comp.Value.Known {
				x[i][j] = comp.Value.Score / 100
			}
		}
		y[i] = r.Positive
	}
	return x, y
}

// fitWeights fits the regression on standardised columns and turns the
// coefficients into a health model: weight ∝ −coefficient per unit of the
// raw component (negative weights become 0), each group scaled to 100,
// and the combined share the behavioural group's part of the total.
func fitWeights(x [][]float64, y []bool, base journey.HealthModel) (journey.HealthModel, error) {
	d := len(calibrated)
	mean := make([]float64, d)
	sd := make([]float64, d)
	for _, row := range x {
		for j, v := range row {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(x))
	}
	for _, row := range x {
		for j, v := range row {
			sd[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(len(x)))
	}
	z := make([][]float64, len(x))
	for i, row := range x {
		z[i] = make([]float64, d)
		for j, v := range row {
			if sd[j] > 0 {
				z[i][j] = (v - mean[j]) / sd[j]
			}
		}
	}
	fit, err := stats.FitLogistic(z, y, CalibrationPenalty)
	if err != nil {
		return base, err
	}
	raw := make([]float64, d)
	for j := range raw {
		if sd[j] > 0 {
			raw[j] = max(0, -fit.Coef[j]/sd[j])
		}
	}
	var bsum, esum float64
	for j, name := range calibrated {
		if isEmotional(name) {
			esum += raw[j]
		} else {
			bsum += raw[j]
		}
	}
	w := func(j int, total float64) float64 {
		if total == 0 {
			return 0
		}
		return math.Round(100 * raw[j] / total)
	}
	m := base
	m.Behavioural.Weights = journey.BehaviouralWeights{
		Recency: w(0, bsum), Frequency: w(1, bsum), Breadth: w(2, bsum), Depth: w(3, bsum), Progress: w(4, bsum),
		Intensity: w(5, bsum), Trend: w(6, bsum), Relationship: w(7, bsum), SupportLoad: w(8, bsum),
	}
	m.Emotional.Weights = journey.EmotionalWeights{NPS: w(9, esum), CSAT: w(10, esum), CES: w(11, esum), Support: w(12, esum)}
	switch {
	case bsum+esum == 0:
		m.Combined = journey.DefaultCombined
	default:
		// A combined of exactly 0 would read as "unset"; 0.01 is the
		// smallest share the map keeps.
		m.Combined = max(math.Round(100*bsum/(bsum+esum))/100, 0.01)
	}
	if m.Behavioural.Weights == (journey.BehaviouralWeights{}) {
		m.Behavioural.Weights.Recency = 1 // all-zero weights would read as "use the defaults"
	}
	if m.Emotional.Weights == (journey.EmotionalWeights{}) {
		m.Emotional.Weights.NPS = 1
	}
	return m, nil
}

func isEmotional(name string) bool {
	switch name {
	case health.ComponentNPS, health.ComponentCSAT, health.ComponentCES, health.ComponentSupport:
		return true
	}
	return false
}

// weightsOf lists a model's weights (defaults filled) by component.
func weightsOf(model journey.HealthModel) map[string]float64 {
	m := health.Defaults(model)
	b, e := m.Behavioural.Weights, m.Emotional.Weights
	return map[string]float64{
		health.ComponentRecency: b.Recency, health.ComponentFrequency: b.Frequency, health.ComponentBreadth: b.Breadth,
		health.ComponentDepth: b.Depth, health.ComponentProgress: b.Progress, health.ComponentIntensity: b.Intensity,
		health.ComponentTrend: b.Trend, health.ComponentRelationship: b.Relationship, health.ComponentSupportLoad: b.SupportLoad,
		health.ComponentNPS: e.NPS, health.ComponentCSAT: e.CSAT, health.ComponentCES: e.CES, health.ComponentSupport: e.Support,
	}
}

func idHash(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}
