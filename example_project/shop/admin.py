from django.contrib import admin

from .models import Order, Payment, Product, Reservation

admin.site.register(Product)
admin.site.register(Order)
admin.site.register(Reservation)
admin.site.register(Payment)
