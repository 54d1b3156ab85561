// Command graph-emulator serves the Graph API emulator (package graphtest) on a real port for the local
// demo. It prints its base URL as the first line of stdout and logs requests to stderr.
//
//	graph-emulator -listen 127.0.0.1:0 -page 1234567890=token \
//	    -webhook-url http://127.0.0.1:8443/webhook -app-secret-file ./app-secret
//
// Page tokens may also come from GRAPH_EMULATOR_PAGES=ID=TOKEN,ID=TOKEN, which keeps them out of the
// process list. The tokens are issued to -app-id, whose webhook callback is -webhook-url: Page events go
// there only while the app is subscribed to the Page, retried as Meta retries (-retry-*) and, after
// -kill-switch-after of continuous failure, no longer: the app is unsubscribed. With -webhook-url, every
// successful opt-in request is answered, after -confirm-delay, by the recipient's signed opt-in delivery
// to that webhook.
//
// Under /_emulator/ it serves graphtest's control API (publish a Page event, resend a delivery, read the
// deliveries, kill switches and subscriptions), so that a test in another process can play Meta's side.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

// pageFlags collects repeated -page ID=TOKEN values.
type pageFlags map[string]string

func (p pageFlags) String() string { return fmt.Sprintf("%d pages", len(p)) }

func (p pageFlags) Set(v string) error {
	id, token, ok := strings.Cut(strings.TrimSpace(v), "=")
	if !ok || id == "" || token == "" {
		return errors.New("want ID=TOKEN")
	}
	p[id] = token
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "graph-emulator:", err)
		os.Exit(1)
	}
}

func run() error {
	pages := pageFlags{}
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	webhookURL := flag.String("webhook-url", "", "webhook to send automatic opt-ins to (empty: none)")
	secretFile := flag.String("app-secret-file", "", "file holding the app secret that signs deliveries")
	delay := flag.Duration("confirm-delay", time.Second, "wait before an automatic opt-in")
	appID := flag.String("app-id", graphtest.DefaultAppID, "the app the Page tokens are issued to; its callback is -webhook-url")
	killAfter := flag.Duration("kill-switch-after", graphtest.DefaultKillSwitchAfter,
		"how long deliveries to the app must fail before it is unsubscribed from the Page, as Meta does")
	retry := graphtest.DefaultRetryPolicy
	flag.IntVar(&retry.Immediate, "retry-immediate", retry.Immediate, "retries at once after a failed delivery")
	flag.DurationVar(&retry.First, "retry-first", retry.First, "wait before the first retry after the immediate ones; each next wait doubles")
	flag.DurationVar(&retry.Max, "retry-max", retry.Max, "longest wait between two retries")
	flag.DurationVar(&retry.GiveUpAfter, "retry-give-up-after", retry.GiveUpAfter, "how long after its first attempt a delivery is dropped")
	flag.Var(pages, "page", "a Page and its access token, ID=TOKEN (repeatable; see also GRAPH_EMULATOR_PAGES)")
	flag.Parse()

	if env := os.Getenv("GRAPH_EMULATOR_PAGES"); env != "" {
		for _, kv := range strings.Split(env, ",") {
			if err := pages.Set(kv); err != nil {
				return fmt.Errorf("GRAPH_EMULATOR_PAGES: %w", err)
			}
		}
	}
	if len(pages) == 0 {
		return errors.New("no page configured: use -page ID=TOKEN or GRAPH_EMULATOR_PAGES")
	}

	logger := log.New(os.Stderr, "", log.LstdFlags)
	emu := graphtest.NewHandler(graphtest.WithLogger(logger.Printf), graphtest.WithKillSwitchAfter(*killAfter),
		graphtest.WithWebhookRetries(retry))
	defer emu.Close()
	for id, token := range pages {
		emu.AddPage(id, token)
		emu.AddPageToken(id, token, graphtest.TokenOptions{AppID: *appID, Permissions: graphtest.AllPermissions})
	}
	if *webhookURL != "" {
		if *secretFile == "" {
			return errors.New("-webhook-url needs -app-secret-file")
		}
		secret, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("read app secret: %w", err)
		}
		// Read as the webhook server reads it, so that both sign and check with the same bytes.
		appSecret := string(delivery.TrimSecret(secret))
		emu.AutoConfirm(*webhookURL, appSecret, *delay)
		emu.AddApp(graphtest.App{ID: *appID, Name: "mmelink", CallbackURL: *webhookURL, Secret: appSecret})
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: emu.Routed(), ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Printf("graph-emulator: serving %d pages on http://%s", len(pages), ln.Addr())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Printf("graph-emulator: stopped")
	return nil
}
