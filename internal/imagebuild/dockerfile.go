// Package imagebuild builds the operator's image without a Docker daemon, from what the Dockerfile says:
// the binaries its builder stage compiles (same packages, same flags, CGO off), the user, entrypoint and
// labels of its final stage, on an empty base standing in for distroless/static:nonroot. The Dockerfile
// stays the source of truth for published images; this package only reads it, and fails on an
// instruction of the final stage it does not understand rather than build an image that differs.
package imagebuild

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Spec is what an image built from the Dockerfile must hold.
type Spec struct {
	// Binaries are the programs the builder stage compiles, in its order.
	Binaries []Binary
	// Env is the builder stage's ENV (GOTOOLCHAIN, GOFLAGS, CGO_ENABLED), applied to every go build.
	Env []string
	// Dest is the folder of the final stage's COPY --from=builder (the binaries land there).
	Dest string
	// User, Entrypoint and Labels are the final stage's USER, ENTRYPOINT and LABELs.
	User       string
	Entrypoint []string
	Labels     map[string]string
}

// Binary is one `go build ... -o /out/NAME PKG` of the builder stage.
type Binary struct {
	Name    string   // the file name, e.g. manager
	Package string   // the package path relative to the module root, e.g. ./webhook-server/cmd
	Flags   []string // the go build flags before -o, e.g. -trimpath -ldflags "-s -w"
}

var goBuildLine = regexp.MustCompile(`go build (.*?)\s*-o (/out/\S+) (\S+)`)

// ParseDockerfile reads the Dockerfile at path.
func ParseDockerfile(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	defer func() { _ = f.Close() }()
	var (
		lines []string
		cur   strings.Builder
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		lines = append(lines, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	return parse(lines)
}

func parse(lines []string) (*Spec, error) {
	s := &Spec{Labels: map[string]string{}}
	stages := 0
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			stages++
			continue
		}
		if instr == "ARG" { // build arguments change how, not what, is built
			continue
		}
		if stages < 2 { // the builder
			if err := s.builder(instr, rest); err != nil {
				return nil, err
			}
			continue
		}
		if err := s.final(instr, rest); err != nil {
			return nil, err
		}
	}
	switch {
	case stages != 2:
		return nil, fmt.Errorf("the Dockerfile has %d stages, this builder knows two (builder, final)", stages)
	case len(s.Binaries) == 0:
		return nil, fmt.Errorf("no `go build -o /out/NAME PKG` in the builder stage")
	case s.Dest == "":
		return nil, fmt.Errorf("no COPY --from=builder in the final stage")
	}
	return s, nil
}

func (s *Spec) builder(instr, rest string) error {
	switch instr {
	case "ENV":
		s.Env = append(s.Env, strings.Fields(rest)...)
	case "RUN":
		for _, m := range goBuildLine.FindAllStringSubmatch(rest, -1) {
			flags, err := splitWords(m[1])
			if err != nil {
				return err
			}
			s.Binaries = append(s.Binaries, Binary{Name: strings.TrimPrefix(m[2], "/out/"), Package: m[3], Flags: flags})
		}
	}
	return nil
}

func (s *Spec) final(instr, rest string) error {
	switch instr {
	case "COPY":
		words := strings.Fields(rest)
		if len(words) < 3 || words[0] != "--from=builder" {
			return fmt.Errorf("final stage: COPY %s: only COPY --from=builder /out/... DEST is understood", rest)
		}
		s.Dest = words[len(words)-1]
		for _, src := range words[1 : len(words)-1] {
			if !s.hasBinary(strings.TrimPrefix(src, "/out/")) {
				return fmt.Errorf("final stage copies %s, which the builder stage does not build", src)
			}
		}
		if n := len(words) - 2; n != len(s.Binaries) {
			return fmt.Errorf("final stage copies %d binaries, the builder builds %d", n, len(s.Binaries))
		}
	case "USER":
		s.User = strings.TrimSpace(rest)
	case "ENTRYPOINT":
		if err := json.Unmarshal([]byte(rest), &s.Entrypoint); err != nil {
			return fmt.Errorf("final stage: ENTRYPOINT must be in exec (JSON) form: %w", err)
		}
	case "LABEL":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return fmt.Errorf("final stage: LABEL %q is not key=value", w)
			}
			s.Labels[k] = v
		}
	default:
		return fmt.Errorf("final stage: %s is not understood by internal/imagebuild; teach it, so the two images keep agreeing", instr)
	}
	return nil
}

func (s *Spec) hasBinary(name string) bool {
	for _, b := range s.Binaries {
		if b.Name == name {
			return true
		}
	}
	return false
}

// splitWords splits shell words, honouring double quotes (enough for go build flags and LABELs).
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		quoted bool
		inWord bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unbalanced quotes in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
