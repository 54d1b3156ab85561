// Command image builds the operator's image without a Docker daemon, from the Dockerfile
// (internal/imagebuild), or the pause image of the test cluster, and writes it as a docker archive for
// `ctr -n k8s.io images import`.
//
//	go run ./hack/image --tag ghcr.io/mmelink/operator:dev --out operator.tar
//	go run ./hack/image --pause --tag localhost/mmelink/pause:1 --out pause.tar
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/mmelink/operator/internal/imagebuild"
)

func main() {
	dockerfile := flag.String("dockerfile", "Dockerfile", "The Dockerfile the image follows.")
	tag := flag.String("tag", "ghcr.io/mmelink/operator:dev", "The image's tag in the archive.")
	out := flag.String("out", "operator.tar", "Where to write the docker archive.")
	pause := flag.Bool("pause", false, "Build the pause image from ./hack/pause instead.")
	flag.Parse()
	var err error
	if *pause {
		err = imagebuild.Pause(context.Background(), ".", "./hack/pause", *tag, *out)
	} else {
		err = imagebuild.Operator(context.Background(), ".", *dockerfile, *tag, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}
