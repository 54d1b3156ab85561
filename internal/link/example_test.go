package link_test

import (
	"errors"
	"fmt"

	"github.com/mmelink/operator/internal/link"
)

func ExampleMessengerURL() {
	u, err := link.MessengerURL("johnsmith55", "summer_coupon", "Hello and Welcome")
	fmt.Println(u, err)
	// Output: https://m.me/johnsmith55?ref=summer_coupon&text=Hello%20and%20Welcome <nil>
}

func ExampleRecurringURL() {
	u, err := link.RecurringURL("johnsmith55", "weekly deals", link.CadenceWeekly, "")
	fmt.Println(u, err)
	// Output: https://m.me/rn/johnsmith55?topic=weekly%20deals&cadence=weekly <nil>
}

func ExampleEncodeRef() {
	ref, err := link.EncodeRef("tutorial", []link.Field{{ID: "738", Value: "value1"}, {ID: "514", Value: "value2"}})
	fmt.Println(ref, err)
	// Output: tutorial--738--value1--514--value2 <nil>
}

func ExampleDecodeRef() {
	base, fields, err := link.DecodeRef("tutorial--738--value1")
	fmt.Println(base, fields, err)

	// A dangling part is an error; the ref still has a base to count it by.
	_, _, err = link.DecodeRef("tutorial--456")
	fmt.Println(err)
	fmt.Println(link.BaseRef("tutorial--456"))
	// Output:
	// tutorial [{738 value1}] <nil>
	// ref: has field id "456" without a value (expected ref--id--value pairs)
	// tutorial
}

func ExampleFieldError() {
	err := link.ValidateUsername("john_smith")
	var fe *link.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Field)
		fmt.Println(fe.Rule)
	}
	// Output:
	// page.username
	// must match ^[A-Za-z0-9.]{5,50}$ (found '_' at index 4)
}
