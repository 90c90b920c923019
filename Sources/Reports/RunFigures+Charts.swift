import Foundation

extension RunFigures {
  // MARK: - Charts

  /// The share of test samples each expert gets the highest gate weight for, per task.
  ///
  /// An expert not yet spawned after a task has a zero share there.
  public func expertUsage() -> SVGCanvas {
    let experts = summary.tasks.map(\.expertUsage.count).max() ?? 0
    let series = (0..<experts).map { expert -> (name: String, values: [Double]) in
      let spawned = expert < summary.experts.count ? summary.experts[expert].spawnedAtTask : 0
      return (
        "expert \(expert) (from T\(spawned))",
        summary.tasks.map { expert < $0.expertUsage.count ? $0.expertUsage[expert] : 0 }
      )
    }
    return StackedBarChart(
      title: "Expert usage over tasks: \(title)", xTitle: "after task",
      yTitle: "share of test samples (argmax expert)",
      categories: summary.tasks.map { "T\($0.task)" }, series: series
    ).draw()
  }

  /// Accuracy on each task as the stream goes on, and the averages.
  ///
  /// A task's line starts after the task is trained.
  public func accuracyCurves() -> SVGCanvas {
    let tasks = summary.tasks
    var series = [
      Series(
        name: "average class-IL",
        points: tasks.map { (Double($0.task), 100 * mean($0.accuracyClassIL)) },
        color: "#222"),
      Series(
        name: "average task-IL",
        points: tasks.map { (Double($0.task), 100 * mean($0.accuracyTaskIL)) }, dashed: true,
        color: "#222"),
    ]
    for task in 0..<tasks.count {
      series.append(
        Series(
          name: "class-IL on \(taskLabel(task))",
          points: tasks.filter { $0.accuracyClassIL.count > task }.map {
            (Double($0.task), 100 * $0.accuracyClassIL[task])
          }, color: Palette.series(task)))
    }
    return LineChart(
      title: "Test accuracy over the stream: \(title)", xTitle: "after training task",
      yTitle: "accuracy (%)", series: series, yRange: 0...100,
      xTicks: tasks.map { (Double($0.task), "T\($0.task)") }
    ).draw()
  }

  /// The mean training loss of every epoch, tasks one after another, one line per task.
  ///
  /// Epochs are numbered on the x axis up to 30 of them; files written before epoch losses
  /// were recorded draw no line.
  public func lossCurve() -> SVGCanvas {
    var series: [Series] = []
    var markers: [(x: Double, label: String)] = []
    var epoch = 0
    for record in summary.tasks {
      markers.append((Double(epoch) + 0.5, "T\(record.task)"))
      let points = record.epochLosses.map { loss -> (x: Double, y: Double) in
        epoch += 1
        return (Double(epoch), loss)
      }
      series.append(
        Series(
          name: "task \(taskLabel(record.task))", points: points,
          color: Palette.series(record.task)))
    }
    var chart = LineChart(
      title: "Training loss per epoch: \(title)", xTitle: "epoch (all tasks in order)",
      yTitle: "mean training loss (nats)", series: series,
      xTicks: epoch <= 30 ? (1...max(epoch, 1)).map { (Double($0), "\($0)") } : nil)
    chart.markers = markers
    return chart.draw()
  }

  /// The mean of `values`, 0 when there are none.
  func mean(_ values: [Double]) -> Double {
    values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
  }
}
