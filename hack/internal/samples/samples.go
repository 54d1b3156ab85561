// Package samples reads what the demo (hack/demo) and the cluster test (hack/clustertest) take from
// config/samples, so that both read it the same way.
package samples

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
)

var (
	tokenRe  = regexp.MustCompile(`(?m)^\s+token:\s*(\S+)\s*$`)
	pageIDRe = regexp.MustCompile(`(?m)^\s+id:\s*"?([0-9]+)"?\s*$`)
)

// Token returns the Page ID and the access token the samples' Secret holds (in the NotificationTopic
// sample), so that the Graph API emulator accepts the token the operator reads from that Secret.
func Token(dir string) (pageID, token string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "messenger_v1alpha1_notificationtopic.yaml"))
	if err != nil {
		return "", "", err
	}
	tok, page := tokenRe.FindSubmatch(b), pageIDRe.FindSubmatch(b)
	if tok == nil || page == nil {
		return "", "", errors.New("no Page ID or token found in the NotificationTopic sample")
	}
	return string(page[1]), string(tok[1]), nil
}
