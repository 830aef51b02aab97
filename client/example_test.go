package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os/signal"
	"syscall"
	"time"

	"github.com/nimbusmq/nimbus/client"
)

// These examples need a running server (`nimbus serve`), so they are
// compiled but not run.

func Example() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Addr: "127.0.0.1:9700"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.CreateQueue(ctx, "orders", map[string]string{"VisibilityTimeout": "60"}, nil); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Send(ctx, "orders", `{"order":42}`,
		client.WithAttribute("tenant", client.StringAttribute("acme")),
		client.WithDelay(2*time.Second)); err != nil {
		log.Fatal(err)
	}
	msgs, err := c.Receive(ctx, "orders", client.ReceiveOptions{Max: 10, Wait: new(20 * time.Second)})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Println(m.Body)
		if err := c.Delete(ctx, "orders", m.ReceiptHandle); err != nil {
			log.Print(err)
		}
	}
}

func ExampleConsumer() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := client.New(ctx, client.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	handle := func(ctx context.Context, m client.Message) error {
		fmt.Printf("%s (delivery %d): %s\n", m.ID, m.ReceiveCount(), m.Body)
		return nil // deletes the message; an error would redeliver it
	}
	cons := client.NewConsumer(c, "orders", handle, client.ConsumerOptions{
		Concurrency: 8,
		Visibility:  time.Minute,
		OnError:     func(err error) { log.Print(err) },
	})
	if err := cons.Run(ctx); err != nil { // returns nil on SIGINT/SIGTERM
		log.Fatal(err)
	}
}

func ExampleError() {
	ctx := context.Background()
	c, err := client.New(ctx, client.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Send(ctx, "no-such-queue", "hello")
	switch {
	case errors.Is(err, client.ErrQueueNotFound):
		fmt.Println("create the queue first")
	case err != nil:
		var e *client.Error
		if errors.As(err, &e) {
			fmt.Println(e.Code, e.Field, e.Message)
		}
	}
}

func ExampleClient_SendBatch() {
	ctx := context.Background()
	c, err := client.New(ctx, client.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.SendBatch(ctx, "orders", []client.SendEntry{
		{ID: "a", Body: "first"},
		{ID: "b", Body: "second", Delay: new(10 * time.Second)},
	})
	if err != nil {
		log.Fatal(err) // nothing was sent
	}
	for _, f := range res.Failed {
		fmt.Printf("entry %s failed: %v (sender fault: %v)\n", f.ID, f.Err, f.SenderFault)
	}
}
