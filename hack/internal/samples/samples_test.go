package samples

import (
	"os"
	"path/filepath"
	"testing"
)

func TestToken(t *testing.T) {
	page, token, err := Token("../../../config/samples")
	if err != nil || page != "104729384756123" || token == "" {
		t.Errorf("Token(config/samples) = %q, %q, %v; want the sample's Page 104729384756123 and a token", page, token, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "messenger_v1alpha1_notificationtopic.yaml"), []byte("kind: NotificationTopic\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Token(dir); err == nil {
		t.Error("a sample without Page ID and token: no error")
	}
	if _, _, err := Token(t.TempDir()); err == nil {
		t.Error("no sample: no error")
	}
}
