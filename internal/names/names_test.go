package names

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestLabelValue(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short name as is", "weekly-deals", "weekly-deals"},
		{"63 characters as is", strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{"64 characters, '-' at the cut", strings.Repeat("a", 62) + "-b", strings.Repeat("a", 62)},
		{"'.' and '-' at the cut", strings.Repeat("a", 60) + ".-.-x", strings.Repeat("a", 60)},
		{"the longest object name", strings.Repeat("ab-", 84) + "a", strings.Repeat("ab-", 20) + "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LabelValue(tt.in)
			if got != tt.want {
				t.Errorf("LabelValue(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("LabelValue(%q) = %q, not a valid label value: %v", tt.in, got, errs)
			}
		})
	}
}
