from django.contrib import admin

from .models import Order, OrderLine, Payment, Pickup, Product, Reservation

admin.site.register(Product)
admin.site.register(Order)
admin.site.register(OrderLine)
admin.site.register(Reservation)
admin.site.register(Pickup)
admin.site.register(Payment)
