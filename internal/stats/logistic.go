package stats

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Logistic is a fitted logistic regression: the log-odds of the outcome
// are Intercept + Σ Coef[j]·x[j].
type Logistic struct {
	Intercept float64   `json:"intercept"`
	Coef      []float64 `json:"coef"`
}

// Predict returns the modelled probability of the outcome for x.
func (l Logistic) Predict(x []float64) float64 {
	z := l.Intercept
	for j, c := range l.Coef {
		z += c * x[j]
	}
	return 1 / (1 + math.Exp(-z))
}

// FitLogistic fits a logistic regression with an L2 (ridge) penalty of
// lambda/2 · Σ Coef² on the mean log-likelihood; the intercept is not
// penalised. The penalty keeps the fit finite when a feature separates the
// outcomes perfectly and shrinks noisy weights towards zero; put features
// on a common scale first so it treats them alike. The optimiser is
// gonum's BFGS on the exact gradient.
func FitLogistic(x [][]float64, y []bool, lambda float64) (Logistic, error) {
	n := len(x)
	if n == 0 || n != len(y) {
		return Logistic{}, errors.New("logistic regression: no rows, or rows and outcomes differ in length")
	}
	d := len(x[0])
	for i, row := range x {
		if len(row) != d {
			return Logistic{}, fmt.Errorf("logistic regression: row %d has %d values, want %d", i, len(row), d)
		}
	}
	if lambda < 0 {
		return Logistic{}, errors.New("logistic regression: the penalty must not be negative")
	}
	nf := float64(n)
	p := optimize.Problem{
		Func: func(w []float64) float64 {
			var loss float64
			for i, row := range x {
				z := w[0]
				for j, v := range row {
					z += w[j+1] * v
				}
				// log(1+e^z) − y·z, written to avoid overflow.
				loss += softplus(z)
				if y[i] {
					loss -= z
				}
			}
			var pen float64
			for _, c := range w[1:] {
				pen += c * c
			}
			return loss/nf + lambda/2*pen
		},
		Grad: func(g, w []float64) {
			clear(g)
			for i, row := range x {
				z := w[0]
				for j, v := range row {
					z += w[j+1] * v
				}
				r := sigmoid(z)
				if y[i] {
					r--
				}
				g[0] += r
				for j, v := range row {
					g[j+1] += r * v
				}
			}
			for j := range g {
				g[j] /= nf
				if j > 0 {
					g[j] += lambda * w[j]
				}
			}
		},
	}
	res, err := optimize.Minimize(p, make([]float64, d+1), &optimize.Settings{GradientThreshold: 1e-9}, &optimize.BFGS{})
	if err != nil && res == nil {
		return Logistic{}, fmt.Errorf("logistic regression: %w", err)
	}
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Logistic{}, errors.New("logistic regression did not converge")
		}
	}
	return Logistic{Intercept: res.X[0], Coef: append([]float64(nil), res.X[1:]...)}, nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}
