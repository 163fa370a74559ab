from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "example_project.shop"
    label = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django.conf import settings

        from django_saga import RetryPolicy, register_compensation_handler, register_step_handler

        from . import handlers, notify

        notify.connect()

        # The payment provider takes so many calls at once and so many a
        # second: every engine together keeps to it (see "Control the flow").
        provider = {
            "concurrency": settings.SHOP_PAYMENT_CONCURRENCY,
            "rate": settings.SHOP_PAYMENT_RATE,
        }

        register_step_handler("orders.accept", handlers.accept_order)
        register_compensation_handler("orders.cancel", handlers.cancel_order)
        register_step_handler("inventory.reserve", handlers.reserve_inventory)
        register_compensation_handler("inventory.release", handlers.release_inventory)
        register_step_handler("shipping.validate_address", handlers.validate_address)
        register_step_handler("orders.gift_wrap", handlers.gift_wrap)
        register_step_handler("shipping.pack", handlers.pack_order)
        register_step_handler("shipping.book_pickup", handlers.book_pickup)
        register_compensation_handler("shipping.cancel_pickup", handlers.cancel_pickup)
        register_step_handler("shipping.print_label", handlers.print_label)
        register_step_handler("payment.request", handlers.request_payment, **provider)
        register_compensation_handler("payment.void", handlers.void_payment, **provider)
        register_step_handler("payment.capture", handlers.capture_payment, **provider)
        register_step_handler("payment.refund", handlers.refund_payment, **provider)
        register_step_handler(
            "shipping.dispatch",
            handlers.dispatch_order,
            retry=RetryPolicy(max_attempts=3, backoff=0.05, max_delay=0.2),
        )
        register_step_handler("orders.confirm", handlers.confirm_order)
        register_step_handler("mail.on_its_way", handlers.remind_on_its_way)
        register_step_handler("stock.count", handlers.count_stock)
        register_step_handler("stock.file_report", handlers.file_stock_report)
