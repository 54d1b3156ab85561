package settle

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMatched(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		answers [][]string // one per call; the last repeats
		want    []string
	}{
		{"matches at once and stays", [][]string{nil}, nil},
		{"matches after a while", [][]string{{"a"}, {"a"}, nil}, nil},
		{"never matches: the last mismatches", [][]string{{"a"}, {"b"}}, []string{"b"}},
		{"matches, then a late double count", [][]string{nil, nil, {"twice"}}, []string{"twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got, err := Matched(context.Background(), 20*ms, 10*ms, ms, func() ([]string, error) {
				a := tt.answers[min(calls, len(tt.answers)-1)]
				calls++
				return a, nil
			})
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Matched = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	boom := errors.New("boom")
	if _, err := Matched(context.Background(), time.Second, time.Second, ms, func() ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("check's error: got %v", err)
	}
}
