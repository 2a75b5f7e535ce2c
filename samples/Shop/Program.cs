using Shop;

var app = ShopApp.Build(args);
await app.RunAsync();
