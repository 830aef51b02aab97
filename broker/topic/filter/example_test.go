package filter_test

import (
	"fmt"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/topic/filter"
)

func Example() {
	scope, err := filter.ParseScope("MessageBody")
	if err != nil {
		panic(err)
	}
	p, err := filter.Compile(`{"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]}`, scope)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Match(filter.Input{Body: `{"store": "example_corp", "price_usd": 210.75}`}))
	fmt.Println(p.Match(filter.Input{Body: `{"store": "example_corp", "price_usd": 99}`}))

	_, err = filter.Compile(`{"a": {"b": ["x"]}}`, filter.ScopeAttributes)
	fmt.Println(broker.CodeOf(err), err)

	var none *filter.Policy // Compile("") or Compile("{}"): no filter
	fmt.Println(none.Match(filter.Input{}))
	// Output:
	// true
	// false
	// INVALID_ARGUMENT Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy (key "a")
	// true
}
